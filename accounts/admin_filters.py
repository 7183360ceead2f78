"""Filters for admins of rows that name their tenant by id only (audit events): by the tenant's name."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from accounts.models import Tenant

OPERATOR_EVENTS = "operator"


def tenant_name_subquery(tenant_field: str = "tenant_id") -> Subquery:
    """The name of the tenant whose id ``tenant_field`` holds, for ``annotate`` (one query for a whole page)."""
    return Subquery(Tenant.objects.filter(pk=OuterRef(tenant_field)).values("name")[:1])


class TenantIdFilter(admin.SimpleListFilter):
    """Tenants by name, only those whose rows the (scoped) changelist holds; operators also get the rows of no
    tenant (the operator chain)."""

    title = "tenant"
    parameter_name = "tenant"
    tenant_field = "tenant_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        present = model_admin.get_queryset(request).order_by().values(self.tenant_field)
        tenants = Tenant.objects.filter(pk__in=present).order_by("name")
        choices = [(str(tenant.pk), tenant.name) for tenant in tenants]
        if model_admin.get_queryset(request).filter(**{f"{self.tenant_field}__isnull": True}).exists():
            choices.append((OPERATOR_EVENTS, "No tenant (operator)"))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        if value == OPERATOR_EVENTS:
            return queryset.filter(**{f"{self.tenant_field}__isnull": True})
        if value not in {choice for choice, _ in self.lookup_choices}:
            return queryset.none()  # a tenant this user may not see, or no tenant at all
        return queryset.filter(**{self.tenant_field: value})
