"""Meta apps in the admin: registered and changed through the services; secrets are write-only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse

from accounts.actors import actor_from_request
from accounts.admin_scope import Area, is_operator
from accounts.models import Tenant
from accounts.shown_once import see_other, shown_once_admin_page, shown_once_hold
from accounts.stepup import step_up_required
from messaging.admin.base import CredentialsAdmin, credential_field_checked, refusal_as_403, secret_input
from messaging.channels import RegisteredApp, meta_app_register, meta_app_rotate_secret, meta_app_set_verify_token
from messaging.errors import MessagingError
from messaging.models import MetaApp

DEFAULT_SECRET_OVERLAP_HOURS = 24
MAX_SECRET_OVERLAP_HOURS = 24 * 14
REGISTERED_APP = "meta_app_registered"


class MetaAppRegisterForm(forms.Form):
    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.filter(is_active=True),
        required=False,
        empty_label="(none: an operator app shared by several tenants)",
    )
    name = forms.CharField(max_length=200)
    meta_app_id = forms.CharField(
        max_length=64, required=False, label="Meta app id", help_text="From Meta's dashboard."
    )
    app_secret = secret_input("App secret", required=True, help_text="From Meta's dashboard; it is never shown again.")
    verify_token = secret_input(
        "Verify token", required=False, help_text="Leave blank to generate one (shown once, to paste into Meta)."
    )

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], is_shared_allowed: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tenant = cast("forms.ModelChoiceField[Tenant]", self.fields["tenant"])
        tenant.queryset = tenants
        if not is_shared_allowed:  # an app shared by several tenants is the operator's
            tenant.required, tenant.empty_label = True, None

    def clean_app_secret(self) -> str:
        return credential_field_checked(self.cleaned_data["app_secret"], "app secret")

    def clean_verify_token(self) -> str:
        return credential_field_checked(self.cleaned_data["verify_token"], "verify token")


class MetaAppChangeForm(forms.ModelForm):  # type: ignore[type-arg]
    new_app_secret = secret_input("App secret", required=False)
    secret_overlap_hours = forms.IntegerField(
        label="Keep the previous secret valid for (hours)",
        min_value=0,
        max_value=MAX_SECRET_OVERLAP_HOURS,
        initial=DEFAULT_SECRET_OVERLAP_HOURS,
        required=False,
        help_text="Used only when a new app secret is given: webhooks signed with the old one still pass meanwhile.",
    )
    new_verify_token = secret_input("Verify token", required=False)

    class Meta:
        model = MetaApp
        fields = ("name", "meta_app_id", "is_active")

    def clean_new_app_secret(self) -> str:
        return credential_field_checked(self.cleaned_data["new_app_secret"], "app secret")

    def clean_new_verify_token(self) -> str:
        return credential_field_checked(self.cleaned_data["new_verify_token"], "verify token")


@admin.register(MetaApp)
class MetaAppAdmin(CredentialsAdmin[MetaApp]):
    scope_area = Area.CHANNELS
    list_display = ("name", "tenant", "app_key", "is_active", "created_at")
    list_select_related = ("tenant",)
    list_filter = ("is_active",)
    search_fields = ("name", "app_key", "meta_app_id")
    form = MetaAppChangeForm
    fields = (
        "tenant",
        "name",
        "meta_app_id",
        "app_key",
        "is_active",
        "new_app_secret",
        "secret_overlap_hours",
        "new_verify_token",
        "previous_secret_valid_until",
    )
    readonly_fields = ("tenant", "app_key", "previous_secret_valid_until")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return step_up_required(self._register_view)(request)

    def get_urls(self) -> list[URLPattern]:
        registered = self.admin_site.admin_view(self.registered_view)
        return [path("registered/", registered, name="messaging_metaapp_registered"), *super().get_urls()]

    def _register_view(self, request: HttpRequest) -> HttpResponse:
        form = MetaAppRegisterForm(
            request.POST if request.method == "POST" else None,
            tenants=self.managed_tenants(request),
            is_shared_allowed=is_operator(request),
        )
        if form.is_valid():
            try:
                registered = self._register(request, form.cleaned_data)
            except MessagingError as error:
                form.add_error(None, str(error))
            else:
                generated = "" if form.cleaned_data["verify_token"] else registered.verify_token
                payload = {"meta_app": str(registered.meta_app.pk), "verify_token": generated}
                shown_once_hold(request, purpose=REGISTERED_APP, payload=payload)
                return see_other(reverse("admin:messaging_metaapp_registered"))
        return self.form_page(request, form, title="Register a Meta app", submit_label="Register")

    def _register(self, request: HttpRequest, data: dict[str, Any]) -> RegisteredApp:
        actor = actor_from_request(request)
        registered = meta_app_register(
            tenant=data["tenant"],
            name=data["name"],
            meta_app_id=data["meta_app_id"],
            app_secret=data["app_secret"],
            actor=actor,
        )
        if data["verify_token"]:
            meta_app_set_verify_token(meta_app=registered.meta_app, verify_token=data["verify_token"], actor=actor)
        return registered

    def registered_view(self, request: HttpRequest) -> HttpResponse:
        """The app the last registration in this session made, with its generated verify token: once (see
        accounts.shown_once), like the registration command; a reload says it was already shown."""
        return shown_once_admin_page(
            request,
            self,
            purpose=REGISTERED_APP,
            row_key="meta_app",
            template="admin/messaging/metaapp/registered.html",
            title="Meta app registered",
            shown_title="Registration already shown",
            context=self._registered_context,
        )

    def _registered_context(self, app: MetaApp | None, held: dict[str, Any]) -> dict[str, Any]:
        callback_path = reverse("webhooks:meta", args=[app.app_key]) if app else ""
        return {"meta_app": app, "callback_path": callback_path, "verify_token": held.get("verify_token", "")}

    def save_model(self, request: HttpRequest, obj: MetaApp, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)  # the plain fields; the secrets go through the services
        actor = actor_from_request(request)
        data = form.cleaned_data
        with refusal_as_403():
            if data.get("new_app_secret"):
                hours = data.get("secret_overlap_hours")
                overlap = timedelta(hours=DEFAULT_SECRET_OVERLAP_HOURS if hours is None else hours)
                meta_app_rotate_secret(meta_app=obj, new_secret=data["new_app_secret"], overlap=overlap, actor=actor)
            if data.get("new_verify_token"):
                meta_app_set_verify_token(meta_app=obj, verify_token=data["new_verify_token"], actor=actor)
