"""The search box of the read-only messaging admins: exact matches through the blind indexes."""

from __future__ import annotations

from typing import TypeVar

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.http import HttpRequest

from accounts.models import Tenant
from core.phones import normalize_e164
from encryption.blind_index import blind_index_filter
from messaging.admin.base import ReadOnlyEncryptedAdmin

_ModelT = TypeVar("_ModelT", bound=Model)


def blind_index_search(queryset: QuerySet[_ModelT], field_name: str, values: list[str]) -> QuerySet[_ModelT]:
    """Rows whose ``field_name`` indexes one of ``values`` exactly.

    Each tenant has its own index key, so the index is computed once per tenant that has rows in
    ``queryset`` (whatever the admin may see), and matched only within that tenant. Never a plaintext lookup.
    """
    model = queryset.model
    present = queryset.order_by().filter(tenant_id=OuterRef("pk"))
    query = Q(pk__in=[])
    for tenant_id in Tenant.objects.filter(Exists(present)).values_list("pk", flat=True):
        for value in values:
            query |= Q(tenant_id=tenant_id) & blind_index_filter(model, field_name, tenant_id=tenant_id, value=value)
    return queryset.filter(query)


def _row_id_query(term: str) -> Q:
    try:
        return Q(pk=term) if forms.UUIDField().clean(term) else Q(pk__in=[])
    except ValidationError:
        return Q(pk__in=[])


def external_id_forms(term: str) -> list[str]:
    """A phone number is stored as WhatsApp sends it (digits, no "+"): "+1 650-555-1234" finds it too."""
    try:
        digits = normalize_e164(term).removeprefix("+")
    except ValueError:
        return [term]
    return list(dict.fromkeys([term, digits]))


class BlindIndexSearchAdmin(ReadOnlyEncryptedAdmin[_ModelT]):
    """The search box matches a row id, or an encrypted provider id exactly through its blind index."""

    search_fields = ("=id",)  # shows the search box; get_search_results below does the matching
    blind_index_field = ""

    def search_values(self, term: str) -> list[str]:
        return [term]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[_ModelT], search_term: str
    ) -> tuple[QuerySet[_ModelT], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        by_index = blind_index_search(queryset, self.blind_index_field, self.search_values(term))
        return queryset.filter(Q(pk__in=by_index.values("pk")) | _row_id_query(term)), False
