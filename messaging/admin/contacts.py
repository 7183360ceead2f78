"""Contacts in the admin: read-only, masked, found by exact phone number, PSID or Instagram id. The list shows
each contact's name and a masked number or id (``messaging.admin.display``), and leads to their conversations."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.admin_scope import Area
from messaging.admin.columns import CONTACT_SEALED, PageKeysMixin, contact_column
from messaging.admin.display import NAMED_HEADING, contact_label
from messaging.admin.search import BlindIndexSearchAdmin, external_id_forms
from messaging.models import Contact


@admin.register(Contact)
class ContactAdmin(PageKeysMixin[Contact], BlindIndexSearchAdmin[Contact]):
    scope_area = Area.CONVERSATIONS
    change_form_before_template = NAMED_HEADING
    list_display = (contact_column, "platform", "tenant", "is_opted_out", "conversations", "created_at")
    list_filter = ("platform", "is_opted_out")
    list_select_related = ("tenant",)
    page_sealed = {"": CONTACT_SEALED}
    blind_index_field = "external_id_index"
    search_help_text = "Exact phone number (wa_id), PSID or Instagram id, or the row id."
    ordering = ("-pk",)  # as the list had it; the pickers (autocomplete) page through the same order
    readonly_fields = ("conversations",)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        contact = self.get_object(request, unquote(object_id))
        named = {"subtitle": contact_label(contact)} if contact is not None else {}
        return super().change_view(request, object_id, form_url, {**named, **(extra_context or {})})

    def search_values(self, term: str) -> list[str]:
        return external_id_forms(term)

    @admin.display(description="conversations")
    def conversations(self, obj: Contact) -> SafeString:
        url = reverse("admin:messaging_conversation_changelist")
        return format_html('<a href="{}?contact__id__exact={}">threads</a>', url, obj.pk)
