"""Which tenants each part of the dashboard covers: operators see every tenant, a member the tenants where their
role may view that part's area (the admin's role matrix, ``accounts.admin_scope``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest

from accounts.admin_scope import Area, Capability, is_operator, tenants_with

_ModelT = TypeVar("_ModelT", bound=Model)


@dataclass(frozen=True, slots=True)
class DashboardScope:
    """``tenant_ids(area)`` is None for an operator (every tenant, and rows no tenant owns)."""

    request: HttpRequest

    @property
    def is_operator(self) -> bool:
        return is_operator(self.request)

    def tenant_ids(self, area: Area) -> list[uuid.UUID] | None:
        if self.is_operator:
            return None
        return tenants_with(self.request, area, Capability.VIEW)

    def sees(self, area: Area) -> bool:
        return self.is_operator or bool(self.tenant_ids(area))

    def filter(self, queryset: QuerySet[_ModelT], area: Area, field: str = "tenant_id") -> QuerySet[_ModelT]:
        """``queryset`` limited to the tenants this area covers (rows of no tenant: operators only)."""
        tenant_ids = self.tenant_ids(area)
        if tenant_ids is None:
            return queryset
        return queryset.filter(**{f"{field}__in": tenant_ids})


def table(headers: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """The shape Unfold's table component reads."""
    return {"headers": headers, "rows": rows}
