from __future__ import annotations

from django.contrib import admin

from messaging.admin import ReadOnlyEncryptedAdmin
from webhooks.models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyEncryptedAdmin[Delivery]):
    """The raw ledger: bodies stay masked; revealing one is a step-up, audited action like any content."""

    list_display = ("received_at", "meta_app", "status", "body_bytes", "processed_at")
    list_filter = ("status",)
    ordering = ("-received_at",)
