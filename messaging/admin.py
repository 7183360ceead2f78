"""Messaging in the admin: every encrypted value masked. Credentials are write-only: typed into password
inputs that are never rendered back, stored through the services (which audit them), behind a fresh step-up;
they are never revealed. Message content and contact details are revealed after a step-up and a typed
reason (audited), unless retention expired it: then it shows as expired and is never revealed. Messages and
contacts are found by exact provider id through their blind indexes. Everything is scoped by membership role
(``accounts.admin_scope``): shared Meta apps (no tenant) are for operators only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers

from accounts.actors import actor_from_request
from accounts.admin_encrypted import EncryptedFieldsAdminMixin, masked_name, masked_value
from accounts.admin_scope import Area, TenantScopedAdmin, is_operator
from accounts.models import Tenant
from accounts.shown_once import see_other, shown_once_hold, shown_once_take
from accounts.stepup import step_up_required
from encryption.blind_index import blind_index_filter, normalize_e164
from messaging.dispatch_admin import SendAttemptInline
from messaging.media_admin import MediaAttachmentInline
from messaging.models import (
    Channel,
    ChannelEvent,
    ChannelStatus,
    Contact,
    Message,
    MetaApp,
    Platform,
    content_is_expired,
)
from messaging.outbound.dispatch.channels import channel_resume
from messaging.services import (
    MessagingError,
    RegisteredApp,
    channel_add,
    channel_set_access_token,
    credential_checked,
    meta_app_register,
    meta_app_rotate_secret,
    meta_app_set_verify_token,
)

_ModelT = TypeVar("_ModelT", bound=Model)

DEFAULT_SECRET_OVERLAP_HOURS = 24
MAX_SECRET_OVERLAP_HOURS = 24 * 14
FORM_TEMPLATE = "admin/messaging/credentials_form.html"
KEEP_CURRENT = "Leave blank to keep the current value; it is never shown."
REGISTERED_APP = "meta_app_registered"


class ReadOnlyEncryptedAdmin(EncryptedFieldsAdminMixin[_ModelT]):
    """Rows are written by the pipeline and the provisioning commands, never edited by hand here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return False


def secret_input(label: str, *, required: bool, help_text: str = KEEP_CURRENT) -> forms.CharField:
    """A password-style input: what was typed is never rendered back, not even after a validation error."""
    return forms.CharField(
        label=label,
        required=required,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )


def _checked(value: str, what: str) -> str:
    """The services' own rule for a credential, as a form error (blank stays blank: keep the current one)."""
    if not value:
        return ""
    try:
        return credential_checked(value, what=what)
    except MessagingError as error:
        raise ValidationError(str(error)) from None


class CredentialsAdmin(EncryptedFieldsAdminMixin[_ModelT]):
    """Add and change go through the services after a fresh step-up; rows are never deleted here."""

    def has_delete_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return False

    def has_reveal_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """An editable form needs the step-up before it is filled in (a redirect would lose what was typed)."""
        parent = super().change_view
        if not self.has_change_permission(request):
            return parent(request, object_id, form_url, extra_context)  # read-only: nothing secret is shown
        return step_up_required(lambda inner: parent(inner, object_id, form_url, extra_context))(request)

    def form_page(self, request: HttpRequest, form: forms.Form, *, title: str, submit_label: str) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": title,
            "submit_label": submit_label,
        }
        response = TemplateResponse(request, FORM_TEMPLATE, context)
        add_never_cache_headers(response)
        return response


@contextmanager
def refusal_as_403() -> Iterator[None]:
    """After form validation a service refusal is a race (a concurrent change): a 403 with its reason."""
    try:
        yield
    except MessagingError as error:
        raise PermissionDenied(str(error)) from None


# --- Meta apps ----------------------------------------------------------------------------------------


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
        return _checked(self.cleaned_data["app_secret"], "app secret")

    def clean_verify_token(self) -> str:
        return _checked(self.cleaned_data["verify_token"], "verify token")


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
        return _checked(self.cleaned_data["new_app_secret"], "app secret")

    def clean_new_verify_token(self) -> str:
        return _checked(self.cleaned_data["new_verify_token"], "verify token")


@admin.register(MetaApp)
class MetaAppAdmin(CredentialsAdmin[MetaApp]):
    scope_area = Area.CHANNELS
    list_display = ("name", "tenant", "app_key", "is_active", "created_at")
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
        if not self.has_add_permission(request):
            raise PermissionDenied
        held = shown_once_take(request, purpose=REGISTERED_APP)
        app = self.get_queryset(request).filter(pk=held["meta_app"]).first() if held else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Meta app registered" if app else "Registration already shown",
            "meta_app": app,
            "callback_path": reverse("webhooks:meta", args=[app.app_key]) if app else "",
            "verify_token": held["verify_token"] if held and app else "",
        }
        response = TemplateResponse(request, "admin/messaging/metaapp/registered.html", context)
        add_never_cache_headers(response)
        return response

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


# --- channels -----------------------------------------------------------------------------------------


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
    access_token = secret_input("Access token", required=True, help_text="The Graph token; it is never shown again.")

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], meta_apps: QuerySet[MetaApp], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Tenant]", self.fields["tenant"]).queryset = tenants
        cast("forms.ModelChoiceField[MetaApp]", self.fields["meta_app"]).queryset = meta_apps

    def clean_access_token(self) -> str:
        return _checked(self.cleaned_data["access_token"], "access token")


class ChannelChangeForm(forms.ModelForm):  # type: ignore[type-arg]
    new_access_token = secret_input("Access token", required=False)

    class Meta:
        model = Channel
        fields = ("display_name", "status")

    def clean_new_access_token(self) -> str:
        return _checked(self.cleaned_data["new_access_token"], "access token")


@admin.register(Channel)
class ChannelAdmin(CredentialsAdmin[Channel]):
    scope_area = Area.CHANNELS
    list_display = ("display_name", "platform", "provider_id", "tenant", "status", "created_at")
    list_filter = ("platform", "status")
    search_fields = ("display_name", "provider_id")
    form = ChannelChangeForm
    fields = ("tenant", "meta_app", "platform", "provider_id", "display_name", "status", "new_access_token")
    readonly_fields = ("tenant", "meta_app", "platform", "provider_id")

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
        resuming = change and "status" in form.changed_data and obj.status == ChannelStatus.ACTIVE
        if resuming:
            obj.status = ChannelStatus.PAUSED  # the service resumes it: alerts resolved, held messages sent, audited
        super().save_model(request, obj, form, change)
        actor = actor_from_request(request)
        with refusal_as_403():
            token = form.cleaned_data.get("new_access_token")
            if token:
                channel_set_access_token(channel=obj, access_token=token, actor=actor)
            if resuming:
                channel_resume(channel=obj, actor=actor)


# --- blind-index search -------------------------------------------------------------------------------


def blind_index_search(queryset: QuerySet[_ModelT], field_name: str, values: list[str]) -> QuerySet[_ModelT]:
    """Rows whose ``field_name`` indexes one of ``values`` exactly.

    Each tenant has its own index key, so the index is computed once per tenant that has rows in
    ``queryset`` (whatever the admin may see), and matched only within that tenant. Never a plaintext lookup.
    """
    model = queryset.model
    present = queryset.order_by().filter(tenant_id=OuterRef("pk"))
    query = Q(pk__in=[])
    for tenant_id in Tenant.objects.filter(Exists(present)).values_list("pk", flat=True):
        for value in values:
            query |= Q(tenant_id=tenant_id) & blind_index_filter(model, field_name, tenant_id=tenant_id, value=value)
    return queryset.filter(query)


def _row_id_query(term: str) -> Q:
    try:
        return Q(pk=term) if forms.UUIDField().clean(term) else Q(pk__in=[])
    except ValidationError:
        return Q(pk__in=[])


def _external_id_forms(term: str) -> list[str]:
    """A phone number is stored as WhatsApp sends it (digits, no "+"): "+1 650-555-1234" finds it too."""
    try:
        digits = normalize_e164(term).removeprefix("+")
    except ValueError:
        return [term]
    return list(dict.fromkeys([term, digits]))


class BlindIndexSearchAdmin(ReadOnlyEncryptedAdmin[_ModelT]):
    """The search box matches a row id, or an encrypted provider id exactly through its blind index."""

    search_fields = ("=id",)  # shows the search box; get_search_results below does the matching
    blind_index_field = ""

    def search_values(self, term: str) -> list[str]:
        return [term]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[_ModelT], search_term: str
    ) -> tuple[QuerySet[_ModelT], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        by_index = blind_index_search(queryset, self.blind_index_field, self.search_values(term))
        return queryset.filter(Q(pk__in=by_index.values("pk")) | _row_id_query(term)), False


@admin.register(Contact)
class ContactAdmin(BlindIndexSearchAdmin[Contact]):
    scope_area = Area.CONVERSATIONS
    list_display = ("id", "tenant", "platform", "is_opted_out", "created_at")
    list_filter = ("platform", "is_opted_out")
    blind_index_field = "external_id_index"
    search_help_text = "Exact phone number (wa_id), PSID or Instagram id, or the row id."

    def search_values(self, term: str) -> list[str]:
        return _external_id_forms(term)


EXPIRED = "expired (retention)"
EXPIRED_REFUSAL = "This message's content expired under the tenant's retention policy: it is never revealed."


@admin.register(Message)
class MessageAdmin(BlindIndexSearchAdmin[Message]):
    scope_area = Area.CONVERSATIONS
    list_display = ("id", "tenant", "channel", "direction", "message_type", "status", "provider_timestamp")
    list_filter = ("direction", "status", "message_type", "is_flagged", "is_sent_elsewhere")
    ordering = ("-provider_timestamp",)
    blind_index_field = "provider_message_index"
    search_help_text = "Exact provider message id (wamid… or mid…), or the row id."
    inlines = [MediaAttachmentInline, SendAttemptInline]

    def __init__(self, model: type[Message], admin_site: admin.AdminSite) -> None:
        super().__init__(model, admin_site)
        field = self.encrypted_fields_by_name["content"]

        @admin.display(description=field.verbose_name)
        def content_display(obj: Message) -> str:
            return EXPIRED if content_is_expired(obj) else masked_value(obj, field)

        setattr(self, masked_name("content"), content_display)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        obj = kwargs.get("obj")  # Django passes it by name
        if isinstance(obj, Message) and content_is_expired(obj):
            context["can_reveal"] = False
        return super().render_change_form(request, context, *args, **kwargs)

    def reveal_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and content_is_expired(obj):
            self.message_user(request, EXPIRED_REFUSAL, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:messaging_message_change", args=[obj.pk]))
        return super().reveal_view(request, object_id)


@admin.register(ChannelEvent)
class ChannelEventAdmin(TenantScopedAdmin[ChannelEvent]):
    scope_area = Area.CHANNELS
    list_display = ("field", "channel", "received_at")
    list_filter = ("field",)
    readonly_fields = ("tenant", "channel", "field", "payload", "fingerprint", "received_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ChannelEvent | None = None) -> bool:
        return False
