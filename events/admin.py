"""The event stream in the admin, scoped by membership role (``Area.EVENTS``): endpoints added and changed through
``events.endpoints`` (audited) behind a fresh step-up, their signing secret shown once after adding or rotating
(``accounts.shown_once``) and never revealed; actions to send a test event, resend failed deliveries and replay
the last 24 hours. Events and the delivery log are read-only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from accounts.actors import actor_from_request
from accounts.admin_encrypted import EncryptedFieldsAdminMixin
from accounts.admin_scope import Area, Capability, ReadOnlyMixin, TenantScopedAdmin
from accounts.mfa import has_fresh_step_up
from accounts.models import Tenant
from accounts.shown_once import see_other, shown_once_admin_page, shown_once_hold
from accounts.stepup import step_up_required, step_up_url
from events import endpoints, services
from events.endpoints import DEFAULT_SECRET_OVERLAP, SUBSCRIBABLE_TYPES, EndpointError
from events.models import DeliveryAttempt, Endpoint, Event, PayloadMode
from messaging.models import Channel

SHOWN_SECRET = "event_endpoint_secret"
REPLAY_WINDOW = timedelta(hours=24)
FORM_TEMPLATE = "admin/events/endpoint/form.html"
TYPE_CHOICES = [(event_type, event_type) for event_type in SUBSCRIBABLE_TYPES]


def _checked(check: Any, *args: Any, **kwargs: Any) -> Any:
    """``events.endpoints``' own rule for a value, as a form error."""
    try:
        return check(*args, **kwargs)
    except EndpointError as error:
        raise ValidationError(str(error)) from None


class EndpointFieldsMixin:
    """The checks the API applies, as form errors on the field they name."""

    cleaned_data: dict[str, Any]

    def clean_url(self) -> str:
        return str(_checked(endpoints.url_clean, self.cleaned_data["url"]))

    def clean_event_types(self) -> list[str]:
        return list(_checked(endpoints.event_types_clean, self.cleaned_data["event_types"]))


class EndpointAddForm(EndpointFieldsMixin, forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.filter(is_active=True))
    url = forms.CharField(max_length=2000, label="URL", help_text="Where events are POSTed, signed.")
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(choices=TYPE_CHOICES, widget=forms.CheckboxSelectMultiple)
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.none(), required=False, help_text="Only this channel's events; empty: every channel's."
    )
    payload_mode = forms.ChoiceField(choices=PayloadMode.choices, initial=PayloadMode.THIN)

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Tenant]", self.fields["tenant"]).queryset = tenants
        channels = Channel.objects.filter(tenant__in=tenants).defer("access_token")
        cast("forms.ModelChoiceField[Channel]", self.fields["channel"]).queryset = channels

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("tenant") and data.get("channel"):
            try:
                endpoints.channel_clean(tenant=data["tenant"], channel_id=data["channel"].pk)
            except EndpointError as error:
                self.add_error("channel", str(error))
        return data


class EndpointChangeForm(EndpointFieldsMixin, forms.ModelForm):  # type: ignore[type-arg]
    url = forms.CharField(max_length=2000, label="URL", help_text="Where events are POSTed, signed.")
    event_types = forms.MultipleChoiceField(choices=TYPE_CHOICES, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Endpoint
        fields = ("url", "description", "event_types", "channel", "payload_mode", "is_enabled")

    def clean_channel(self) -> Channel | None:
        channel = self.cleaned_data.get("channel")
        return _checked(  # type: ignore[no-any-return]
            endpoints.channel_clean, tenant=self.instance.tenant, channel_id=channel.pk if channel else None
        )


@admin.register(Endpoint)
class EndpointAdmin(EncryptedFieldsAdminMixin[Endpoint]):
    scope_area = Area.EVENTS
    list_display = ("__str__", "url", "tenant", "is_enabled", "payload_mode", "failing_since", "created_at")
    list_select_related = ("tenant",)
    list_filter = ("is_enabled", "payload_mode", "tenant")
    form = EndpointChangeForm
    fields = (
        "tenant",
        "url",
        "description",
        "event_types",
        "channel",
        "payload_mode",
        "is_enabled",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "previous_secret_until",
        "backlog",
        "created_at",
    )
    readonly_fields = (
        "tenant",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "previous_secret_until",
        "backlog",
        "created_at",
    )
    actions = ["rotate_secret", "send_test_event", "resend_failed", "replay_last_day"]

    def has_reveal_permission(self, request: HttpRequest, obj: Endpoint | None = None) -> bool:
        return False  # a secret is shown once, never revealed

    @admin.display(description="backlog")
    def backlog(self, obj: Endpoint) -> str:
        backlog = services.endpoint_backlog(endpoint=obj)
        rate = "—" if backlog.success_rate_24h is None else f"{backlog.success_rate_24h:.0%}"
        age = backlog.oldest_undelivered_age
        oldest = "—" if age is None else f"{age.total_seconds():.0f} s"
        return (
            f"{backlog.pending} pending, the oldest waiting {oldest}; {rate} of {backlog.attempts_24h} attempts in 24 h"
        )

    # --- add, change, delete through the services ---

    def get_urls(self) -> list[URLPattern]:
        shown = path("secret/", self.admin_site.admin_view(self.secret_view), name="events_endpoint_secret")
        return [shown, *super().get_urls()]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return step_up_required(self._add_view)(request)

    def _add_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = EndpointAddForm(request.POST or None, tenants=self.managed_tenants(request))
        if request.method == "POST" and form.is_valid():
            data = dict(form.cleaned_data)
            tenant = data.pop("tenant")
            created = endpoints.endpoint_create(
                tenant=tenant, values=data, actor=actor_from_request(request), created_by_id=request.user.pk
            )
            self._secret_hold(request, created)
            return see_other(reverse("admin:events_endpoint_secret"))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "form": form, "title": "Add an endpoint"}
        response = TemplateResponse(request, FORM_TEMPLATE, {**context, "submit_label": "Add"})
        add_never_cache_headers(response)
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """An editable form needs the step-up before it is filled in (a redirect would lose what was typed)."""
        parent = super().change_view
        if not self.has_change_permission(request):
            return parent(request, object_id, form_url, extra_context)
        return step_up_required(lambda inner: parent(inner, object_id, form_url, extra_context))(request)

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        stored = Endpoint.objects.get(pk=obj.pk)  # the form already set its values on ``obj``
        values = {name: form.cleaned_data[name] for name in form.changed_data if name in endpoints.EDITABLE_FIELDS}
        endpoints.endpoint_change(endpoint=stored, values=values, actor=actor_from_request(request))

    def delete_model(self, request: HttpRequest, obj: Endpoint) -> None:
        endpoints.endpoint_delete(endpoint=obj, actor=actor_from_request(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        rows = list(queryset)
        self.require_capability(request, Capability.MANAGE, rows)
        for endpoint in rows:
            endpoints.endpoint_delete(endpoint=endpoint, actor=actor_from_request(request))

    # --- the secret, shown once ---

    def _secret_hold(self, request: HttpRequest, held: endpoints.EndpointWithSecret) -> None:
        payload = {"endpoint": str(held.endpoint.pk), "secret": held.secret}
        shown_once_hold(request, purpose=SHOWN_SECRET, payload=payload)

    def secret_view(self, request: HttpRequest) -> HttpResponse:
        """The secret the last add or rotation in this session made, once; a reload says it was shown."""
        return shown_once_admin_page(
            request,
            self,
            purpose=SHOWN_SECRET,
            row_key="endpoint",
            template="admin/events/endpoint/secret.html",
            title="Endpoint signing secret",
            shown_title="Signing secret already shown",
            context=lambda endpoint, held: {"endpoint": endpoint, "secret": held.get("secret", "")},
        )

    # --- actions ---

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return self.has_capability(request, Capability.MANAGE)

    @admin.action(description="Rotate the signing secret (one endpoint)", permissions=["manage"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> HttpResponse | None:
        self.require_capability(request, Capability.MANAGE, queryset)
        if queryset.count() != 1:
            self.message_user(request, "Choose one endpoint: its new secret is shown once.", messages.WARNING)
            return None
        if not has_fresh_step_up(request):
            self.message_user(request, "Rotating needs a fresh code; confirm and run it again.", messages.WARNING)
            return HttpResponseRedirect(step_up_url(reverse("admin:events_endpoint_changelist")))
        endpoint = Endpoint.objects.get(pk=queryset.get().pk)
        rotated = endpoints.endpoint_secret_rotate(
            endpoint=endpoint, overlap=DEFAULT_SECRET_OVERLAP, actor=actor_from_request(request)
        )
        self._secret_hold(request, rotated)
        return see_other(reverse("admin:events_endpoint_secret"))

    @admin.action(description="Send a test event", permissions=["manage"])
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        self.require_capability(request, Capability.MANAGE, queryset)
        for endpoint in queryset:
            endpoints.endpoint_test(endpoint=endpoint, actor=actor_from_request(request))
        self.message_user(request, f"A test event is on its way to {queryset.count()} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Resend failed deliveries", permissions=["manage"])
    def resend_failed(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        self.require_capability(request, Capability.MANAGE, queryset)
        actor = actor_from_request(request)
        count = sum(endpoints.endpoint_failed_resend(endpoint=endpoint, actor=actor) for endpoint in queryset)
        self.message_user(request, f"{count} failed deliveries will be tried again.", messages.SUCCESS)

    @admin.action(description="Replay the last 24 hours", permissions=["manage"])
    def replay_last_day(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        self.require_capability(request, Capability.MANAGE, queryset)
        until = timezone.now()
        actor = actor_from_request(request)
        count = sum(
            endpoints.endpoint_events_replay(endpoint=endpoint, since=until - REPLAY_WINDOW, until=until, actor=actor)
            for endpoint in queryset
        )
        self.message_user(request, f"{count} events will be delivered again.", messages.SUCCESS)


@admin.register(Event)
class EventAdmin(ReadOnlyMixin, TenantScopedAdmin[Event]):
    """Ids and clear facts only: an event never holds content."""

    scope_area = Area.EVENTS
    list_display = ("public_id", "type", "tenant", "occurred_at", "sequence")
    list_select_related = ("tenant",)
    list_filter = ("type",)
    date_hierarchy = "occurred_at"
    fields = (
        "public_id",
        "type",
        "tenant",
        "occurred_at",
        "created_at",
        "sequence",
        "channel_id",
        "conversation_id",
        "contact_id",
        "message_id",
        "facts",
    )
    readonly_fields = fields


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyMixin, TenantScopedAdmin[DeliveryAttempt]):
    """The delivery log: one row per attempt, newest first."""

    scope_area = Area.EVENTS
    list_display = ("attempted_at", "endpoint", "event", "status_code", "error", "latency_ms", "next_attempt_at")
    list_filter = ("endpoint", "error")
    list_select_related = ("endpoint", "delivery__event")
    ordering = ("-attempted_at",)
    fields = (
        "attempted_at",
        "endpoint",
        "event",
        "status_code",
        "error",
        "latency_ms",
        "response_excerpt",
        "next_attempt_at",
    )
    readonly_fields = fields

    @admin.display(description="event")
    def event(self, obj: DeliveryAttempt) -> str:
        return f"{obj.delivery.event.type} {obj.delivery.event.public_id}"
