"""Channels in the admin: added and changed through the services (the access token is write-only), their
events from Meta, and their alerts. Alerts are read-only: codes and titles only (never Meta's free text)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.actors import actor_from_request
from accounts.admin_scope import Area, ReadOnlyMixin, TenantScopedAdmin, is_operator
from accounts.models import Tenant
from accounts.stepup import step_up_required
from messaging.admin.base import (
    CredentialsAdmin,
    credential_field_checked,
    refusal_as_403,
    secret_input,
)
from messaging.channels import channel_add, channel_set_access_token
from messaging.errors import MessagingError
from messaging.models import Channel, ChannelAlert, ChannelEvent, ChannelStatus, MetaApp, Platform
from messaging.outbound.dispatch.channels import channel_pause, channel_resume

ADMIN_PAUSE_REASON = "Paused in the admin"
ALERT_FIELDS = ("channel", "tenant", "error_code", "error_title", "created_at", "resolved_at")
ALERT_COLUMNS = ("error_title", "error_code", "channel", "tenant", "created_at", "resolved_at")


class ChannelAddForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.filter(is_active=True))
    meta_app = forms.ModelChoiceField(
        queryset=MetaApp.objects.filter(is_active=True), label="Meta app", help_text="The app its webhooks come on."
    )
    platform = forms.ChoiceField(choices=Platform.choices)
    provider_id = forms.CharField(
        max_length=64, label="Provider id", help_text="phone_number_id, page id or Instagram account id"
    )
    display_name = forms.CharField(max_length=200, required=False)
    waba_id = forms.CharField(
        max_length=64,
        required=False,
        label="WhatsApp Business Account id",
        help_text="WhatsApp only: the account the number belongs to (account-level webhooks and templates).",
    )
    access_token = secret_input("Access token", required=True, help_text="The Graph token; it is never shown again.")

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], meta_apps: QuerySet[MetaApp], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Tenant]", self.fields["tenant"]).queryset = tenants
        cast("forms.ModelChoiceField[MetaApp]", self.fields["meta_app"]).queryset = meta_apps

    def clean_access_token(self) -> str:
        return credential_field_checked(self.cleaned_data["access_token"], "access token")


class ChannelChangeForm(forms.ModelForm):  # type: ignore[type-arg]
    new_access_token = secret_input("Access token", required=False)

    class Meta:
        model = Channel
        fields = ("display_name", "status")

    def clean_new_access_token(self) -> str:
        return credential_field_checked(self.cleaned_data["new_access_token"], "access token")


# What Meta's account webhooks set: shown, never edited here.
ACCOUNT_FIELDS = (
    "quality_rating",
    "messaging_limit_tier",
    "daily_conversation_limit",
    "max_messages_per_second",
    "requested_display_name",
    "display_name_status",
)


@admin.register(Channel)
class ChannelAdmin(CredentialsAdmin[Channel]):
    scope_area = Area.CHANNELS
    list_display = (
        "display_name",
        "platform",
        "provider_id",
        "tenant",
        "status",
        "quality_rating",
        "messaging_limit_tier",
        "created_at",
    )
    list_select_related = ("tenant",)
    list_filter = ("platform", "status", "is_coexistence", "quality_rating", "messaging_limit_tier")
    search_fields = ("display_name", "provider_id", "waba_id")
    form = ChannelChangeForm
    fields = (
        "tenant",
        "meta_app",
        "platform",
        "provider_id",
        "waba_id",
        "display_name",
        "status",
        "paused_reason",
        "is_coexistence",
        "new_access_token",
        *ACCOUNT_FIELDS,
    )
    # is_coexistence is learnt from the number's WhatsApp Business app webhooks (docs/coexistence.md).
    readonly_fields = (
        "tenant",
        "meta_app",
        "platform",
        "provider_id",
        "waba_id",
        "paused_reason",
        "is_coexistence",
        *ACCOUNT_FIELDS,
    )

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return step_up_required(self._add_channel_view)(request)

    def _add_channel_view(self, request: HttpRequest) -> HttpResponse:
        tenants = self.managed_tenants(request)
        apps = MetaApp.objects.filter(is_active=True)
        form = ChannelAddForm(
            request.POST if request.method == "POST" else None,
            tenants=tenants,
            meta_apps=apps if is_operator(request) else apps.filter(tenant__in=tenants),
        )
        if form.is_valid():
            try:
                channel = channel_add(**form.cleaned_data, actor=actor_from_request(request))
            except MessagingError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, f"Added {channel} to {channel.tenant}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:messaging_channel_change", args=[channel.pk]))
        return self.form_page(request, form, title="Add a channel", submit_label="Add channel")

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: bool) -> None:
        # A change of status goes through the services: pausing alerts and is audited, resuming resolves the
        # alerts and sends the held messages, and each is a business event.
        new_status = obj.status if change and "status" in form.changed_data else None
        if new_status is not None:
            obj.status = ChannelStatus.PAUSED if new_status == ChannelStatus.ACTIVE else ChannelStatus.ACTIVE
        super().save_model(request, obj, form, change)
        actor = actor_from_request(request)
        with refusal_as_403():
            token = form.cleaned_data.get("new_access_token")
            if token:
                channel_set_access_token(channel=obj, access_token=token, actor=actor)
            if new_status == ChannelStatus.ACTIVE:
                channel_resume(channel=obj, actor=actor)
            elif new_status == ChannelStatus.PAUSED:
                channel_pause(channel=obj, code=None, title=ADMIN_PAUSE_REASON, actor=actor)


@admin.register(ChannelEvent)
class ChannelEventAdmin(TenantScopedAdmin[ChannelEvent]):
    scope_area = Area.CHANNELS
    list_display = ("field", "channel", "tenant", "received_at")
    list_select_related = ("channel", "tenant")
    list_filter = ("field",)
    search_fields = ("channel__waba_id", "channel__provider_id")
    readonly_fields = ("tenant", "channel", "field", "payload", "fingerprint", "received_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ChannelEvent | None = None) -> bool:
        return False


@admin.register(ChannelAlert)
class ChannelAlertAdmin(ReadOnlyMixin, TenantScopedAdmin[ChannelAlert]):
    """Why a channel stopped sending; resolved when the channel is resumed (``manage.py channel_resume``, or its
    status set back to active in the channel's admin), and a token error's alert when the token is replaced."""

    scope_area = Area.CHANNELS

    list_display = ALERT_COLUMNS
    list_select_related = ("channel", "tenant")
    list_filter = ("error_code", ("resolved_at", admin.EmptyFieldListFilter))
    readonly_fields = ALERT_FIELDS
    fields = ALERT_FIELDS
