"""Contacts in the admin: read-only, masked, found by exact phone number, PSID or Instagram id."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scope import Area
from messaging.admin.search import BlindIndexSearchAdmin, external_id_forms
from messaging.models import Contact


@admin.register(Contact)
class ContactAdmin(BlindIndexSearchAdmin[Contact]):
    scope_area = Area.CONVERSATIONS
    list_display = ("id", "tenant", "platform", "is_opted_out", "created_at")
    list_filter = ("platform", "is_opted_out")
    blind_index_field = "external_id_index"
    search_help_text = "Exact phone number (wa_id), PSID or Instagram id, or the row id."
    ordering = ("-pk",)  # as the list had it; the pickers (autocomplete) page through the same order

    def search_values(self, term: str) -> list[str]:
        return external_id_forms(term)
