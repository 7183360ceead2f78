"""The retention policy in force for every tenant, whether it has a policy of its own or follows the defaults: a
column and a read-only block in the tenant admin, and the tenants on the defaults under the retention policy list.
Shown to those who may view a tenant's retention policies (``Area.POLICIES``)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.admin import TenantAdmin
from accounts.admin_scope import Area, Capability, is_operator, tenants_with
from accounts.models import Tenant
from policies.models import RetentionPolicy
from policies.retention.selectors import PolicyInForce, PolicySource, tenant_policies, tenant_policy_in_force
from policies.retention.validation import POLICY_FIELDS, POLICY_LABELS, policy_defaults

SOURCE_LABELS = {
    PolicySource.TENANT: "The tenant's own policy",
    PolicySource.DEFAULT: "The installation's defaults",
    PolicySource.CHANNEL: "A channel's override",
}
IN_FORCE_ATTRIBUTE = "_retention_in_force"


def value_text(value: int | bool | None) -> str:
    if value is None:
        return "no limit"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def policy_summary(in_force: PolicyInForce) -> str:
    """One line for a list: where the policy comes from and its main lifetimes."""
    values = in_force.values
    source = "Own policy" if in_force.source == PolicySource.TENANT else "Defaults"
    return (
        f"{source}: content {values.content_max_days} d, media {values.media_days} d, "
        f"metadata {values.metadata_days} d, raw deliveries {values.raw_delivery_days} d"
    )


def policy_table(in_force: PolicyInForce) -> SafeString:
    """Every value of the policy in force, by its label."""
    values = in_force.values.as_dict()
    rows = format_html_join(
        "",
        "<tr><th>{}</th><td>{}</td></tr>",
        ((POLICY_LABELS[name], value_text(values[name])) for name in POLICY_FIELDS),
    )
    return format_html("<p>{}</p><table>{}</table>", SOURCE_LABELS[in_force.source], rows)


def policy_viewer_tenants(request: HttpRequest) -> set[uuid.UUID] | None:
    """The tenants whose policies the user may view; ``None``: every tenant (an operator)."""
    return None if is_operator(request) else set(tenants_with(request, Area.POLICIES, Capability.VIEW))


def may_view_policy(request: HttpRequest, tenant_id: uuid.UUID) -> bool:
    viewable = policy_viewer_tenants(request)
    return viewable is None or tenant_id in viewable


admin.site.unregister(Tenant)


@admin.register(Tenant)
class TenantRetentionAdmin(TenantAdmin):
    """The tenant admin, with the retention policy in force (own or default) for those who may view policies."""

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = super().get_list_display(request)
        viewable = policy_viewer_tenants(request)
        if viewable is not None and not set(tenants_with(request, Area.TENANT, Capability.VIEW)) <= viewable:
            return shown  # someone who sees a tenant whose policies they may not view: no column at all
        return (*shown, "retention_in_force")

    def get_readonly_fields(self, request: HttpRequest, obj: Tenant | None = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is None or not may_view_policy(request, obj.pk):
            return fields
        return (*fields, "retention_in_force_block")

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        rows = tenant_policies(tenant_ids=[tenant.pk for tenant in changelist.result_list])
        for tenant in changelist.result_list:
            setattr(tenant, IN_FORCE_ATTRIBUTE, tenant_policy_in_force(tenant_policy=rows.get(tenant.pk)))
        return changelist

    @admin.display(description="retention policy in force")
    def retention_in_force(self, tenant: Tenant) -> str:
        in_force = getattr(tenant, IN_FORCE_ATTRIBUTE, None)
        if in_force is None:
            in_force = tenant_policy_in_force(tenant_policy=tenant_policies(tenant_ids=[tenant.pk]).get(tenant.pk))
        return policy_summary(in_force)

    @admin.display(description="retention policy in force")
    def retention_in_force_block(self, tenant: Tenant) -> SafeString:
        in_force = tenant_policy_in_force(tenant_policy=tenant_policies(tenant_ids=[tenant.pk]).get(tenant.pk))
        return policy_table(in_force)


def tenants_on_defaults(request: HttpRequest) -> list[tuple[Tenant, str]]:
    """The active tenants (that the user may view policies of) with no policy of their own, for the policy list."""
    tenants = Tenant.objects.filter(is_active=True).exclude(
        pk__in=RetentionPolicy.objects.filter(channel__isnull=True).values("tenant_id")
    )
    viewable = policy_viewer_tenants(request)
    if viewable is not None:
        tenants = tenants.filter(pk__in=viewable)
    add_url = reverse("admin:policies_retentionpolicy_add")
    return [(tenant, f"{add_url}?tenant={tenant.pk}") for tenant in tenants.order_by("name")]


def defaults_table() -> SafeString:
    return policy_table(PolicyInForce(policy_defaults(), PolicySource.DEFAULT, None))
