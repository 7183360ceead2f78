"""WhatsApp message templates in the admin: listed and shown as Meta last said (read-only), created and deleted at
Meta through the services after a fresh step-up (both audited), and synced from Meta on request."""

from __future__ import annotations

import json
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from accounts.actors import actor_from_request
from accounts.admin_scope import Area, Capability, TenantScopedAdmin
from accounts.models import Tenant
from accounts.stepup import step_up_required
from messaging import message_templates
from messaging.admin.base import FORM_TEMPLATE
from messaging.errors import MessagingError
from messaging.models import MessageTemplate
from messaging.providers.templates import ParameterFormat, TemplateCategory
from messaging.providers.whatsapp.templates.definitions import TemplateDefinition

SHOWN_FIELDS = (
    "tenant",
    "waba_id",
    "name",
    "language",
    "category",
    "status",
    "quality_score",
    "parameter_format",
    "rejected_reason",
    "components",
    "provider_template_id",
    "synced_at",
    "created_at",
    "updated_at",
)


class TemplateCreateForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.filter(is_active=True))
    waba_id = forms.RegexField(
        r"^[0-9]{1,64}$",
        label="WhatsApp Business Account id",
        help_text="One of the tenant's WhatsApp channels must be on this account: its token calls Meta.",
    )
    name = forms.CharField(max_length=512, help_text="Lower-case letters, digits and underscores.")
    language = forms.CharField(max_length=16, help_text="A language code such as en or en_US.")
    category = forms.ChoiceField(choices=TemplateCategory.choices)
    parameter_format = forms.ChoiceField(choices=ParameterFormat.choices, initial=ParameterFormat.POSITIONAL.value)
    components = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80}),
        help_text='Meta\'s components as JSON, e.g. [{"type": "BODY", "text": "Hello {{1}}"}].',
    )

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Tenant]", self.fields["tenant"]).queryset = tenants

    def clean_components(self) -> list[dict[str, Any]]:
        try:
            components = json.loads(self.cleaned_data["components"])
        except ValueError:
            raise ValidationError("Not valid JSON.") from None
        if not isinstance(components, list) or not all(isinstance(item, dict) for item in components):
            raise ValidationError("A JSON list of component objects.")
        return components

    def definition(self) -> TemplateDefinition:
        data = self.cleaned_data
        return TemplateDefinition(
            name=data["name"],
            language=data["language"],
            category=data["category"],
            components=data["components"],
            parameter_format=data["parameter_format"],
        )


@admin.register(MessageTemplate)
class MessageTemplateAdmin(TenantScopedAdmin[MessageTemplate]):
    scope_area = Area.CHANNELS
    list_display = ("name", "language", "status", "quality_score", "category", "waba_id", "tenant", "synced_at")
    list_select_related = ("tenant",)
    list_filter = ("status", "category", "quality_score")
    search_fields = ("name", "waba_id", "provider_template_id")
    fields = SHOWN_FIELDS
    readonly_fields = SHOWN_FIELDS
    actions = ["sync_from_meta"]

    def has_change_permission(self, request: HttpRequest, obj: MessageTemplate | None = None) -> bool:
        return False  # Meta reviews a template's content: a change is a new template

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, each through Meta
        return actions

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return step_up_required(self._create_view)(request)

    def _create_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = TemplateCreateForm(
            request.POST if request.method == "POST" else None, tenants=self.managed_tenants(request)
        )
        if form.is_valid():
            try:
                template = message_templates.template_create(
                    tenant=form.cleaned_data["tenant"],
                    waba_id=form.cleaned_data["waba_id"],
                    definition=form.definition(),
                    actor=actor_from_request(request),
                )
            except MessagingError as error:
                field = getattr(error, "field", None)
                form.add_error(field if field in form.fields else None, str(error))
            else:
                self.message_user(request, f"Submitted {template} to Meta: {template.status}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:messaging_messagetemplate_change", args=[template.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": "Submit a message template to Meta",
            "submit_label": "Submit for review",
        }
        response = TemplateResponse(request, FORM_TEMPLATE, context)
        add_never_cache_headers(response)
        return response

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        parent = super().delete_view
        return step_up_required(lambda inner: parent(inner, object_id, extra_context))(request)

    def delete_model(self, request: HttpRequest, obj: MessageTemplate) -> None:
        """Deleted at Meta first; a refusal is a 403 with its reason and nothing is deleted here."""
        try:
            message_templates.template_delete(template=obj, actor=actor_from_request(request))
        except MessagingError as error:
            raise PermissionDenied(str(error)) from None

    @admin.action(description="Sync the selected templates' accounts from Meta")
    def sync_from_meta(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> None:
        rows = list(queryset.select_related("tenant"))
        self.require_capability(request, Capability.MANAGE, rows)
        actor = actor_from_request(request)
        for tenant, waba_id in sorted({(row.tenant, row.waba_id) for row in rows}, key=str):
            try:
                result = message_templates.templates_sync(tenant=tenant, waba_id=waba_id, actor=actor)
            except MessagingError as error:
                self.message_user(request, f"{waba_id}: {error}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{waba_id}: {result.created} new, {result.updated} updated, {result.removed} removed.",
                    messages.SUCCESS,
                )
