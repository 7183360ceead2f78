"""Read-only admin for the key store: owners, purposes, states, destroy times and receipts; never key material."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from audit.admin import ReadOnlyAdmin
from encryption.models import DataKey, KeyEncryptionKey

KEY_MATERIAL = ("wrapped_key", "canary")  # wrapped keys and canaries never reach a page, even as bytes


@admin.register(KeyEncryptionKey)
class KeyEncryptionKeyAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "version", "state", "root_version", "created_at")
    list_filter = ("owner", "state")
    ordering = ("owner", "-version")
    fields = ("owner", "version", "state", "root_version", "created_at")
    readonly_fields = fields
    exclude = KEY_MATERIAL[:1]


@admin.register(DataKey)
class DataKeyAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "owner",
        "purpose",
        "scope",
        "version",
        "state",
        "created_at",
        "destroy_after",
        "destroyed_at",
    )
    list_filter = ("owner", "purpose", "state")
    ordering = ("-id",)
    fields = (
        "owner",
        "purpose",
        "scope",
        "version",
        "state",
        "kek_version",
        "canary_sha256",
        "created_at",
        "destroy_after",
        "destroyed_at",
        "receipt_json",
    )
    readonly_fields = fields
    exclude = KEY_MATERIAL

    @admin.display(description="receipt")
    def receipt_json(self, key: DataKey) -> str:
        if not key.receipt:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(key.receipt, indent=2, sort_keys=True))
