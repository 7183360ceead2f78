"""The admin's security alerts (read-only, with a *resolve* action) and per-tenant threshold overrides.

Both are tenant-scoped (Area.SECURITY): owners, admins and auditors see their tenants' alerts, owners and admins
resolve them and edit their tenants' overrides. Operator-wide alerts (no tenant) are for operators only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.actors import actor_from_request
from accounts.admin_filters import TenantIdFilter
from accounts.admin_scope import Area, Capability, ReadOnlyMixin, TenantScopedAdmin
from accounts.models import Tenant
from audit.alerts.models import SecurityAlert, ThresholdOverride
from audit.alerts.services import alert_resolve, threshold_override_save
from audit.alerts.thresholds import threshold_default, threshold_names


@admin.register(SecurityAlert)
class SecurityAlertAdmin(ReadOnlyMixin, TenantScopedAdmin[SecurityAlert]):
    scope_area = Area.SECURITY
    tenant_path = "tenant_id"
    list_display = ("first_seen", "severity", "title", "detector", "occurrences", "last_seen", "status")
    list_filter = ("severity", "detector", "status", TenantIdFilter)
    ordering = ("-first_seen",)
    actions = ["resolve"]
    readonly_fields = (
        "tenant_id",
        "detector",
        "severity",
        "title",
        "evidence",
        "suggested_action",
        "first_seen",
        "last_seen",
        "occurrences",
        "status",
        "resolved_at",
        "resolved_by_label",
    )
    fields = readonly_fields

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return self.has_capability(request, Capability.MANAGE)

    @admin.action(description="Resolve selected alerts", permissions=["resolve"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[SecurityAlert]) -> None:
        alerts = list(queryset)
        self.require_capability(request, Capability.MANAGE, alerts)
        actor = actor_from_request(request)
        resolved = sum(alert_resolve(alert=alert, actor_id=actor.user_id, actor_label=actor.label) for alert in alerts)
        self.message_user(request, f"{resolved} alert(s) resolved.", messages.SUCCESS)


class ThresholdOverrideForm(forms.ModelForm[ThresholdOverride]):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())
    name = forms.ChoiceField(choices=())

    class Meta:
        model = ThresholdOverride
        fields = ("name", "value")

    def __init__(self, *args: Any, tenants: QuerySet[Tenant] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tenant_field = self.fields["tenant"]
        assert isinstance(tenant_field, forms.ModelChoiceField)  # noqa: S101 - declared just above
        tenant_field.queryset = tenants if tenants is not None else Tenant.objects.none()
        if self.instance.tenant_id:
            tenant_field.initial = self.instance.tenant_id
        choices = [(name, f"{name} (default {threshold_default(name)})") for name in threshold_names()]
        self.fields["name"].choices = choices  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        tenant = cleaned.get("tenant")
        if tenant is not None:
            self.instance.tenant_id = tenant.pk
        return cleaned


@admin.register(ThresholdOverride)
class ThresholdOverrideAdmin(TenantScopedAdmin[ThresholdOverride]):
    scope_area = Area.SECURITY
    tenant_path = "tenant_id"
    form = ThresholdOverrideForm
    list_display = ("name", "value", "tenant_name", "updated_at")
    list_filter = ("name", TenantIdFilter)
    fields = ("tenant", "name", "value")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)
        tenants = self.managed_tenants(request)

        class ScopedForm(form_class):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **form_kwargs: Any) -> None:
                super().__init__(*args, tenants=tenants, **form_kwargs)

        return ScopedForm

    @admin.display(description="tenant")
    def tenant_name(self, override: ThresholdOverride) -> str:
        tenant = Tenant.objects.filter(pk=override.tenant_id).only("name").first()
        return tenant.name if tenant else str(override.tenant_id)

    def save_model(self, request: HttpRequest, obj: ThresholdOverride, form: Any, change: bool) -> None:
        self.require_capability(request, Capability.MANAGE, [obj])
        actor = actor_from_request(request)
        threshold_override_save(override=obj, actor_id=actor.user_id, actor_label=actor.label)

    def delete_model(self, request: HttpRequest, obj: ThresholdOverride) -> None:
        actor = actor_from_request(request)
        threshold_override_save(override=obj, actor_id=actor.user_id, actor_label=actor.label, deleted=True)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ThresholdOverride]) -> None:
        overrides = list(queryset)
        self.require_capability(request, Capability.MANAGE, overrides)
        for override in overrides:
            self.delete_model(request, override)
