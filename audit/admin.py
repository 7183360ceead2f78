"""Read-only admin for the audit log: superusers may look, nobody may add, change or delete."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from audit.models import AuditChainHead, AuditEvent
from core.admin_theme import ThemedModelAdmin


class ReadOnlyAdmin(ThemedModelAdmin[Any]):
    actions = None  # no bulk delete
    show_full_result_count = False  # no extra COUNT(*) over a large log for every filtered page

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return bool(request.user.is_superuser)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "chain", "occurred_at", "action", "actor_label", "target")
    list_filter = ("action", "chain")
    search_fields = ("target_id", "actor_label")

    @admin.display(description="target")
    def target(self, event: AuditEvent) -> str:
        return f"{event.target_type} {event.target_id}".strip()


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    list_display = ("chain", "last_seq", "last_hash")
