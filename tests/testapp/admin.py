"""The Note admin: the encrypted-fields mixin as a project model would use it (tests only)."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_encrypted import EncryptedFieldsAdminMixin
from accounts.admin_scope import Area
from tests.testapp.models import Note


@admin.register(Note)
class NoteAdmin(EncryptedFieldsAdminMixin[Note]):
    scope_area = Area.CONVERSATIONS
    tenant_path = "tenant_id"
    list_display = ("title", "tenant_id", "body", "created_at")
    search_fields = ("title",)
    ordering = ("-created_at",)
