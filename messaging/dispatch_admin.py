"""The dispatcher in the admin: a message's send attempts, and channel alerts. Read-only: codes, titles and
timings only (the attempt ledger never holds a body, a token or Meta's free text). Scoped by membership role."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin_scope import Area, ScopedInline, TenantScopedAdmin
from messaging.models import ChannelAlert, SendAttempt

ATTEMPT_FIELDS = (
    "number",
    "started_at",
    "finished_at",
    "outcome",
    "http_status",
    "error_code",
    "error_title",
    "fbtrace_id",
)
ALERT_FIELDS = ("channel", "tenant", "error_code", "error_title", "created_at", "resolved_at")


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SendAttemptInline(ReadOnlyMixin, ScopedInline, admin.TabularInline):  # type: ignore[type-arg]
    model = SendAttempt
    fields = ATTEMPT_FIELDS
    readonly_fields = ATTEMPT_FIELDS
    ordering = ("number",)
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(ChannelAlert)
class ChannelAlertAdmin(ReadOnlyMixin, TenantScopedAdmin[ChannelAlert]):
    """Why a channel stopped sending; resolved when the channel is resumed (``manage.py channel_resume``, or its
    status set back to active in the channel's admin)."""

    scope_area = Area.CHANNELS

    list_display = ALERT_FIELDS
    list_filter = ("error_code", ("resolved_at", admin.EmptyFieldListFilter))
    readonly_fields = ALERT_FIELDS
    fields = ALERT_FIELDS
