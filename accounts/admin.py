"""Admin for tenants, users, memberships, MFA devices, API keys and the audit log, scoped by membership role
(``accounts.admin_scope``). Writes go through the services."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

import accounts.admin_alerts  # noqa: F401 - registers the security alert and threshold admins
from accounts.actors import actor_from_request
from accounts.admin_filters import TenantIdFilter, tenant_name_subquery
from accounts.admin_scope import Area, Capability, TenantScopedAdmin, is_operator
from accounts.apikeys import ApiKeyError, api_key_issue, api_key_revoke
from accounts.mfa import has_fresh_step_up
from accounts.models import ApiKey, ApiScope, BackupCodeDevice, Membership, Tenant, TotpDevice, User
from accounts.rate_limits import RATE_LIMIT_CLASSES, RateLimitsError, key_rate, rate_limits_parse_pairs
from accounts.services import (
    AccountsError,
    membership_delete,
    membership_set,
    mfa_device_remove,
    tenant_create,
    user_create,
    user_disable,
)
from accounts.shown_once import see_other, shown_once_admin_page, shown_once_hold
from accounts.stepup import step_up_required, step_up_url
from audit.admin import ActionFilter, ActorFilter, AuditEventAdmin
from audit.models import AuditEvent
from core.admin_theme import ThemedModelAdmin

ISSUED_KEY = "api_key"


def _admin_user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _adopt(target: Model, saved: Model) -> None:
    """Make the admin's unsaved form instance stand for the row a service created."""
    target.pk = saved.pk
    target._state.adding = False
    target._state.db = saved._state.db


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin[Tenant]):
    """Staff see their own tenants; an owner renames theirs. Operators create and deactivate tenants."""

    scope_area = Area.TENANT
    tenant_path = "pk"
    list_display = ("name", "slug", "is_active", "created_at")
    search_fields = ("name", "slug")
    list_filter = ("is_active",)

    def get_readonly_fields(self, request: HttpRequest, obj: Tenant | None = None) -> tuple[str, ...]:
        operator_fields = () if is_operator(request) else ("is_active",)
        return ("slug", *operator_fields) if obj else ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_operator(request)  # a new tenant has no members yet: only an operator can create one

    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        _adopt(obj, tenant_create(name=obj.name, slug=obj.slug, actor=actor_from_request(request)))

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        return False  # tenants are deactivated; their data goes through the retention policies


class UserCreationForm(AdminUserCreationForm[User]):
    class Meta:
        model = User
        fields = ("email",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User], TenantScopedAdmin[User]):
    """Owners, admins and auditors see the members of their tenants, read-only. A user may belong to several
    tenants and carries the operator flags: only operators create or change users."""

    scope_area = Area.MEMBERS
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_superuser", "is_active", "last_login")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)
    readonly_fields = ("last_login", "date_joined")
    member_fieldsets = ((None, {"fields": ("email", "full_name", "is_active", "last_login")}),)

    def scope_queryset(self, queryset: QuerySet[User], tenant_ids: Iterable[uuid.UUID]) -> QuerySet[User]:
        members = Membership.objects.filter(tenant_id__in=list(tenant_ids)).values("user_id")
        return queryset.filter(pk__in=members)

    def object_tenant_ids(self, obj: User) -> set[uuid.UUID]:
        return set(Membership.objects.filter(user_id=obj.pk).values_list("tenant_id", flat=True))

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        return super().get_fieldsets(request, obj) if is_operator(request) else self.member_fieldsets

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_operator(request)

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return is_operator(request)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return is_operator(request)

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        # Disabled first: the keys they created would otherwise outlive them, no longer traceable to them.
        user_disable(user=obj, actor=actor_from_request(request))
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            user_disable(user=user, actor=actor_from_request(request))
        super().delete_queryset(request, queryset)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if change:
            disabling = "is_active" in form.changed_data and not obj.is_active
            obj.is_active = obj.is_active or disabling  # the service disables: sessions and keys end with it
            super().save_model(request, obj, form, change)
            if disabling:
                user_disable(user=obj, actor=actor_from_request(request))
            return
        password = form.cleaned_data.get("password1") or None
        try:
            user = user_create(email=obj.email, password=password, actor=actor_from_request(request))
        except AccountsError as error:
            raise PermissionDenied(str(error)) from None
        _adopt(obj, user)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin[Membership]):
    """An owner adds (among their tenants' members), changes and removes their tenant's memberships."""

    scope_area = Area.MEMBERS
    list_display = ("user", "tenant", "role", "created_at")
    list_select_related = ("user", "tenant")
    list_filter = ("role", "tenant")
    search_fields = ("user__email", "tenant__name")
    autocomplete_fields = ("user", "tenant")

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> tuple[str, ...]:
        return ("tenant", "user") if obj else ()

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        membership = membership_set(tenant=obj.tenant, user=obj.user, role=obj.role, actor=actor_from_request(request))
        _adopt(obj, membership)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_delete(membership=obj, actor=actor_from_request(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        memberships = list(queryset.select_related("tenant"))
        self.require_capability(request, Capability.MANAGE, memberships)
        for membership in memberships:
            membership_delete(membership=membership, actor=actor_from_request(request))


class DeviceAdmin(ThemedModelAdmin[Any]):
    """Devices are listed and may be removed (to reset someone's MFA) after a step-up; secrets never show."""

    list_display = ("user", "name", "confirmed")
    search_fields = ("user__email",)
    fields = ("user", "name", "confirmed")
    readonly_fields = ("user", "name", "confirmed")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        parent = super().delete_view
        return step_up_required(lambda inner_request: parent(inner_request, object_id, extra_context))(request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}  # no bulk delete: each removal goes through the step-up guarded delete view

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        mfa_device_remove(device=obj, actor=actor_from_request(request))


admin.site.register(TotpDevice, DeviceAdmin)
admin.site.register(BackupCodeDevice, DeviceAdmin)


class ApiKeyIssueForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.filter(is_active=True))
    name = forms.CharField(max_length=200, help_text="What uses this key, e.g. “CRM integration”.")
    scopes = forms.MultipleChoiceField(choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple)
    days = forms.IntegerField(min_value=1, initial=90, help_text="Days until the key expires.")
    rate_limits = forms.CharField(
        required=False,
        label="Own rate limits",
        help_text=f"Optional, instead of the defaults: class=requests/seconds, separated by commas, e.g. "
        f"“exports=5/3600, sends=100/60”. Classes: {', '.join(RATE_LIMIT_CLASSES)}.",
    )

    def clean_rate_limits(self) -> dict[str, str]:
        pairs = [pair for pair in self.cleaned_data["rate_limits"].replace("\n", ",").split(",") if pair.strip()]
        try:
            return rate_limits_parse_pairs(pairs)
        except RateLimitsError as error:
            raise forms.ValidationError(str(error)) from None

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tenant = cast("forms.ModelChoiceField[Tenant]", self.fields["tenant"])
        tenant.queryset = tenants  # only the tenants where the user may manage keys
        if len(only := list(tenants[:2])) == 1:
            tenant.initial = only[0]  # a member of one tenant has nothing to choose


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin[ApiKey]):
    """Keys are issued here after a step-up and shown once; afterwards only metadata is visible."""

    scope_area = Area.API_KEYS

    list_display = ("name", "prefix", "tenant", "scope_list", "expires_at", "revoked_at", "last_used_at")
    list_select_related = ("tenant",)
    list_filter = ("tenant", "revoked_at")
    search_fields = ("name", "key_id")
    fields = (
        "name",
        "prefix",
        "tenant",
        "scopes",
        "rate_limit_list",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "last_used_ip",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    actions = ["revoke_keys"]

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description="rate limits")
    def rate_limit_list(self, obj: ApiKey) -> str:
        """Each class's rate for this key (requests/seconds), its own marked as such."""
        own = obj.rate_limits or {}
        rates = [f"{name} {key_rate(obj, name)}{' (own)' if name in own else ''}" for name in RATE_LIMIT_CLASSES]
        return ", ".join(rates)

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead, so the key's history stays

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return step_up_required(self._issue_view)(request)

    def get_urls(self) -> list[URLPattern]:
        issued = path("issued/", self.admin_site.admin_view(self.issued_view), name="accounts_apikey_issued")
        return [issued, *super().get_urls()]

    def _issue_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiKeyIssueForm(request.POST or None, tenants=self.managed_tenants(request))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": "Issue an API key",
        }
        if request.method == "POST" and form.is_valid():
            try:
                issued = api_key_issue(
                    tenant=form.cleaned_data["tenant"],
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=timezone.now() + timedelta(days=form.cleaned_data["days"]),
                    created_by=_admin_user(request),
                    ip=actor_from_request(request).ip,
                    rate_limits=form.cleaned_data["rate_limits"],
                )
            except ApiKeyError as error:
                form.add_error(None, str(error))
            else:
                payload = {"key": issued.plaintext, "api_key": str(issued.api_key.pk)}
                shown_once_hold(request, purpose=ISSUED_KEY, payload=payload)
                return see_other(reverse("admin:accounts_apikey_issued"))
        return TemplateResponse(request, "admin/accounts/apikey/issue.html", context)

    def issued_view(self, request: HttpRequest) -> HttpResponse:
        """The key the last issue made in this session, once (accounts.shown_once); then that it was shown."""
        return shown_once_admin_page(
            request,
            self,
            purpose=ISSUED_KEY,
            row_key="api_key",
            template="admin/accounts/apikey/issued.html",
            title="API key issued",
            shown_title="API key already shown",
            context=lambda api_key, held: {"api_key": api_key, "plaintext": held.get("key", "")},
        )

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return self.has_capability(request, Capability.MANAGE)

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> HttpResponse | None:
        self.require_capability(request, Capability.MANAGE, queryset)
        if not has_fresh_step_up(request):
            self.message_user(
                request, "Revoking keys needs a fresh code; confirm and run the action again.", messages.WARNING
            )
            return HttpResponseRedirect(step_up_url(reverse("admin:accounts_apikey_changelist")))
        ip = actor_from_request(request).ip
        for api_key in queryset:
            api_key_revoke(api_key=api_key, revoked_by=_admin_user(request), ip=ip)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
        return None


admin.site.unregister(AuditEvent)


@admin.register(AuditEvent)
class TenantAuditEventAdmin(AuditEventAdmin, TenantScopedAdmin[AuditEvent]):
    """Owners, admins and auditors read their tenants' chains; the operator chain is for operators only."""

    scope_area = Area.AUDIT
    tenant_path = "tenant_id"
    list_display = ("occurred_at", "action_name", "actor_label", "target", "tenant_name", "seq")
    list_filter = [ActionFilter, ActorFilter, TenantIdFilter]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        return super().get_queryset(request).annotate(tenant_name=tenant_name_subquery())

    @admin.display(description="tenant", ordering="tenant_name")
    def tenant_name(self, event: AuditEvent) -> str:
        return getattr(event, "tenant_name", None) or ("—" if event.tenant_id else "No tenant (operator)")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return TenantScopedAdmin.has_module_permission(self, request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return TenantScopedAdmin.has_view_permission(self, request, cast(AuditEvent | None, obj))
