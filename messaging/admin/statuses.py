"""What waits for its message: statuses parked until their message appears, and Messenger/Instagram
watermarks kept for the messages that appear after them. Read-only: the pipeline writes and applies them."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scope import Area, ReadOnlyMixin, TenantScopedAdmin
from messaging.admin.columns import CONTACT_SEALED, PageKeysMixin, contact_column
from messaging.admin.search import BlindIndexSearchAdmin
from messaging.models import ParkedReceipt, ParkedStatus


@admin.register(ParkedStatus)
class ParkedStatusAdmin(BlindIndexSearchAdmin[ParkedStatus]):
    """A status Meta sent for a message not stored yet; found by its exact provider id."""

    scope_area = Area.CONVERSATIONS
    list_display = ("status", "channel", "tenant", "provider_timestamp", "received_at")
    list_select_related = ("channel", "tenant")
    list_filter = ("status",)
    ordering = ("-received_at",)
    blind_index_field = "provider_message_index"
    search_help_text = "Exact provider message id (wamid… or mid…), or the row id."


@admin.register(ParkedReceipt)
class ParkedReceiptAdmin(PageKeysMixin[ParkedReceipt], ReadOnlyMixin, TenantScopedAdmin[ParkedReceipt]):
    scope_area = Area.CONVERSATIONS
    list_display = ("status", "channel", contact_column, "tenant", "watermark", "received_at")
    list_select_related = ("channel", "contact", "tenant")
    page_sealed = {"contact": CONTACT_SEALED}
    list_filter = ("status",)
    ordering = ("-received_at",)
    readonly_fields = ("tenant", "channel", "contact", "status", "watermark", "provider_timestamp", "received_at")
