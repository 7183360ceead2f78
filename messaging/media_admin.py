"""A message's media in the admin: status, type and size only. The source reference and the announced hash
are content (masked nowhere because never shown), and the bytes have no admin view at all."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin_scope import ScopedInline
from messaging.models import MediaAttachment

FIELDS = ("position", "kind", "status", "mime_type", "size", "attempts", "last_error_code", "stored_at")


class MediaAttachmentInline(ScopedInline, admin.TabularInline):  # type: ignore[type-arg]
    model = MediaAttachment
    fields = FIELDS
    readonly_fields = FIELDS
    ordering = ("position",)
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
