"""Read-only admin for the audit log, newest first: superusers may look, nobody may add, change or delete.

Events are filtered by action (by its label), actor and time, and found by the id of their target; the tenant
filter and the tenant's name come from the tenant-scoped admin in ``accounts.admin``, which knows tenants.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from audit.models import AuditAction, AuditChainHead, AuditEvent
from core.admin_theme import ThemedModelAdmin

ACTOR_CHOICES_MAX = 200  # actors offered by the filter at most; any other is found by searching


def action_label(action: str) -> str:
    """The human label of an action; an action this version does not know shows as stored."""
    return str(AuditAction(action).label) if action in AuditAction.values else action


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


class ActionFilter(admin.SimpleListFilter):
    """Actions by their labels (the column holds codes such as ``api_key.issued``, with no database choices)."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return sorted(((str(value), str(label)) for value, label in AuditAction.choices), key=lambda item: item[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(action=self.value()) if self.value() else queryset


class ActorFilter(admin.SimpleListFilter):
    """The people and systems that acted in the events this admin shows (never another tenant's)."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        events = model_admin.get_queryset(request).exclude(actor_label="").order_by()
        labels = events.values_list("actor_label", flat=True).distinct()[:ACTOR_CHOICES_MAX]
        return [(label, label) for label in sorted(labels)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(actor_label=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "action_name", "actor_label", "target", "chain", "seq")
    list_filter = [ActionFilter, ActorFilter]
    date_hierarchy = "occurred_at"
    ordering = ("-occurred_at", "-seq")
    search_fields = ("=target_id", "actor_label")
    search_help_text = "The exact id of the event's target (a key, a channel, a contact…), or part of an actor."

    @admin.display(description="action", ordering="action")
    def action_name(self, event: AuditEvent) -> str:
        return action_label(event.action)

    @admin.display(description="target")
    def target(self, event: AuditEvent) -> str:
        return f"{event.target_type} {event.target_id}".strip()


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    list_display = ("chain", "last_seq", "last_hash")
