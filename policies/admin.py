"""Retention policies in the admin: a tenant's policy and its per-channel overrides. Every change needs a fresh
step-up, is validated by the rules the services use, and is saved (and audited) by the service. Policies are
scoped by membership role; purge runs count every tenant's rows, so they are the operator's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.actors import actor_from_request
from accounts.admin_scope import Area, ScopedInline, TenantScopedAdmin
from accounts.stepup import step_up_required
from core.admin_theme import ThemedModelAdmin, ThemedTabularInline
from policies.admin_in_force import defaults_table, tenants_on_defaults
from policies.models import PurgeCount, PurgeRun, RetentionPolicy
from policies.retention.services import retention_policy_override_delete, retention_policy_update
from policies.retention.validation import (
    POLICY_FIELDS,
    POLICY_LABELS,
    PolicyValues,
    RetentionPolicyInvalidError,
    policy_values_validate,
)


class RetentionPolicyForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = RetentionPolicy
        fields = ("tenant", "channel", *POLICY_FIELDS)
        labels = POLICY_LABELS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tenant = data.get("tenant") or getattr(self.instance, "tenant", None)
        channel = data.get("channel") if "channel" in self.fields else self.instance.channel
        if channel is not None and tenant is not None and channel.tenant_id != tenant.pk:
            self.add_error("channel", "This channel belongs to another tenant.")
        if all(name in data for name in POLICY_FIELDS if name in self.fields):
            values = PolicyValues(**{name: data[name] for name in POLICY_FIELDS})
            for name, message in policy_values_validate(values).items():
                self.add_error(name, message)
        return data


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(TenantScopedAdmin[RetentionPolicy]):
    scope_area = Area.POLICIES
    form = RetentionPolicyForm
    list_display = (
        "tenant",
        "channel",
        "content_max_days",
        "content_days_after_delivery",
        "purge_content_on_delivery",
        "disappearing_seconds_after_read",
        "metadata_days",
        "media_days",
        "raw_delivery_days",
        "updated_at",
    )
    list_select_related = ("tenant", "channel")
    list_filter = ("purge_content_on_delivery",)
    search_fields = ("tenant__name", "tenant__slug")
    change_list_template = "admin/policies/retentionpolicy/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Under the rows: every tenant without a policy of its own, and the defaults it follows."""
        context = {**(extra_context or {}), "tenants_on_defaults": tenants_on_defaults(request)}
        return super().changelist_view(request, {**context, "defaults_table": defaults_table()})

    def get_readonly_fields(self, request: HttpRequest, obj: RetentionPolicy | None = None) -> tuple[str, ...]:
        return ("tenant", "channel") if obj is not None else ()

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}  # bulk delete would bypass the service (and its audit event)

    def has_delete_permission(self, request: HttpRequest, obj: RetentionPolicy | None = None) -> bool:
        """Only a channel's override goes (its channel then follows the tenant's policy again)."""
        return super().has_delete_permission(request, obj) and (obj is None or obj.channel_id is not None)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        parent = super().add_view
        return step_up_required(lambda inner: parent(inner, form_url, extra_context))(request)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        parent = super().change_view
        if not self.has_change_permission(request):
            return parent(request, object_id, form_url, extra_context)
        return step_up_required(lambda inner: parent(inner, object_id, form_url, extra_context))(request)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        parent = super().delete_view
        return step_up_required(lambda inner: parent(inner, object_id, extra_context))(request)

    def save_model(self, request: HttpRequest, obj: RetentionPolicy, form: Any, change: bool) -> None:
        try:
            saved = retention_policy_update(
                tenant=obj.tenant,
                channel=obj.channel,
                actor=actor_from_request(request),
                values={name: form.cleaned_data[name] for name in POLICY_FIELDS},
            )
        except RetentionPolicyInvalidError as error:  # validated above: only a concurrent change gets here
            raise PermissionDenied(str(error)) from None
        obj.pk, obj._state.adding = saved.pk, False

    def delete_model(self, request: HttpRequest, obj: RetentionPolicy) -> None:
        if obj.channel is None:
            raise PermissionDenied("A tenant's policy is changed, never deleted.")
        retention_policy_override_delete(tenant=obj.tenant, channel=obj.channel, actor=actor_from_request(request))


# --- purge runs (read-only: written by the purge, one count per tenant and kind) ------------------------------


class PurgeCountInline(ScopedInline, ThemedTabularInline):  # type: ignore[type-arg]
    model = PurgeCount
    fields = ("tenant_id", "kind", "count")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PurgeRun)
class PurgeRunAdmin(ThemedModelAdmin[PurgeRun]):
    list_display = ("started_at", "finished_at", "dry_run", "complete", "removed")
    list_filter = ("dry_run", "complete")
    ordering = ("-started_at",)
    fields = ("started_at", "finished_at", "dry_run", "complete")
    readonly_fields = fields
    inlines = [PurgeCountInline]

    @admin.display(description="rows, files and keys")
    def removed(self, run: PurgeRun) -> int:
        return sum(run.counts.values_list("count", flat=True))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
