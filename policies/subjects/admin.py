"""Legal holds, subject exports and erasure tombstones in the admin, and the contact actions "export" and "erase".

Placing a hold, releasing one, exporting or erasing a contact and downloading an export all need a fresh step-up
and go through the services, which audit them. Holds, exports and tombstones are never edited or deleted here.
All of them are scoped by membership role (``accounts.admin_scope``): each write needs the manage capability
of the subject-rights or holds area in the row's tenant.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from accounts.actors import actor_from_request
from accounts.admin_scope import Area, Capability, TenantScopedAdmin
from accounts.mfa import has_fresh_step_up
from accounts.models import Tenant
from accounts.stepup import step_up_required, step_up_url
from messaging.admin.columns import ContactIdColumnMixin
from messaging.admin.contacts import ContactAdmin
from messaging.models import Channel, Contact, Conversation
from policies.models import ErasureTombstone, ExportStatus, LegalHold, SubjectExport
from policies.subjects.erasure import ErasureRefusedError, contact_erase
from policies.subjects.export import (
    SubjectExportRunningError,
    SubjectExportUnavailableError,
    subject_export_open,
    subject_export_request,
)
from policies.subjects.holds import (
    CASE_REFERENCE_MAX,
    LegalHoldError,
    hold_scope_label,
    legal_hold_place,
    legal_hold_release,
)

FORM_TEMPLATE = "admin/policies/form.html"
ERASE_TEMPLATE = "admin/policies/erase_confirm.html"


class ReadOnlyAdmin(TenantScopedAdmin):  # type: ignore[type-arg]
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _needs_step_up(request: HttpRequest, admin_instance: admin.ModelAdmin, what: str) -> HttpResponse | None:  # type: ignore[type-arg]
    """Actions take a fresh code first, like revoking API keys: the user confirms, then runs the action again."""
    if has_fresh_step_up(request):
        return None
    admin_instance.message_user(
        request, f"{what} needs a fresh code; confirm and run the action again.", messages.WARNING
    )
    return HttpResponseRedirect(step_up_url(request.get_full_path()))


# --- legal holds -------------------------------------------------------------------------------------------


class ChannelChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Channel) -> str:
        return f"{obj} ({obj.tenant.name})"


class LegalHoldPlaceForm(forms.Form):
    """Tenant, contact and channel are pickers limited to the tenants where the user may place holds; a
    conversation is the contact's on the chosen channel (a contact has one conversation per channel)."""

    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())
    scope = forms.ChoiceField(
        choices=[("tenant", "The whole tenant"), ("contact", "One contact"), ("conversation", "One conversation")]
    )
    contact = forms.ModelChoiceField(
        queryset=Contact.objects.none(),
        required=False,
        help_text="For a hold on one contact, or on one of their conversations: search by phone number, PSID, "
        "Instagram id or contact id.",
    )
    channel = ChannelChoiceField(
        queryset=Channel.objects.none(),
        required=False,
        help_text="For a hold on one conversation: the channel of the contact's conversation.",
    )
    case_reference = forms.CharField(max_length=CASE_REFERENCE_MAX)
    reason = forms.CharField(widget=forms.Textarea, help_text="Why; kept on the hold, not in the audit log.")
    ends_at = forms.DateTimeField(
        required=False, label="Ends at", help_text="UTC, e.g. 2027-06-30 00:00. Empty: until it is released."
    )

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], admin_site: admin.AdminSite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Tenant]", self.fields["tenant"]).queryset = tenants
        contact = cast("forms.ModelChoiceField[Contact]", self.fields["contact"])
        contact.widget = AutocompleteSelect(LegalHold._meta.get_field("contact"), admin_site)
        contact.queryset = Contact.objects.filter(tenant__in=tenants)  # after the widget: this gives it its choices
        channel = cast(ChannelChoiceField, self.fields["channel"])
        channel.queryset = Channel.objects.filter(tenant__in=tenants).select_related("tenant").order_by("display_name")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tenant, scope = data.get("tenant"), data.get("scope")
        data["contact_row"] = data["conversation_row"] = None
        if tenant is None or scope is None or scope == "tenant":
            return data
        contact = data.get("contact")
        if contact is None or contact.tenant_id != tenant.pk:
            self.add_error("contact", "Choose one of this tenant's contacts.")
            return data
        if scope == "contact":
            data["contact_row"] = contact
            return data
        channel = data.get("channel")
        conversation = Conversation.objects.filter(tenant=tenant, channel=channel, contact=contact).first()
        if conversation is None:
            self.add_error(
                "channel", "This contact has no conversation on this channel; choose the channel they wrote on."
            )
        data["conversation_row"] = conversation
        return data


@admin.register(LegalHold)
class LegalHoldAdmin(ContactIdColumnMixin[LegalHold], ReadOnlyAdmin):
    scope_area = Area.HOLDS
    list_display = (
        "case_reference",
        "tenant",
        "scope",
        "contact_named",
        "created_at",
        "ends_at",
        "released_at",
        "rekey_pending",
    )
    list_filter = ("rekey_pending",)
    list_select_related = ("tenant",)
    search_fields = ("case_reference",)
    ordering = ("-created_at",)
    readonly_fields = (
        "tenant",
        "scope",
        "target",
        "case_reference",
        "reason",
        "placed_by",
        "created_at",
        "ends_at",
        "released_at",
        "released_by",
        "rekey_pending",
    )
    fields = readonly_fields
    actions = ["release_holds"]

    @admin.display(description="scope")
    def scope(self, obj: LegalHold) -> str:
        return hold_scope_label(obj)

    @admin.display(description="contact or conversation")
    def target(self, obj: LegalHold) -> str:
        return str(obj.contact_id or obj.conversation_id or "—")

    def page_contact_ids(self, rows: list[LegalHold]) -> list[uuid.UUID | None]:
        conversation_ids = {row.conversation_id for row in rows if row.conversation_id}
        contact_of = dict(Conversation.objects.filter(pk__in=conversation_ids).values_list("pk", "contact_id"))
        return [
            row.contact_id or (contact_of.get(row.conversation_id) if row.conversation_id else None) for row in rows
        ]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return step_up_required(self._place_view)(request)

    def _place_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = LegalHoldPlaceForm(
            request.POST if request.method == "POST" else None,
            tenants=self.managed_tenants(request),
            admin_site=self.admin_site,
        )
        if form.is_valid():
            data = form.cleaned_data
            try:
                hold = legal_hold_place(
                    tenant=data["tenant"],
                    contact=data["contact_row"],
                    conversation=data["conversation_row"],
                    case_reference=data["case_reference"],
                    reason=data["reason"],
                    ends_at=data["ends_at"],
                    actor=actor_from_request(request),
                )
            except LegalHoldError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, f"Placed hold {hold.case_reference}; its content is being re-keyed.")
                return HttpResponseRedirect(reverse("admin:policies_legalhold_change", args=[hold.pk]))
        return _form_page(self, request, form, title="Place a legal hold", submit_label="Place hold")

    def has_release_permission(self, request: HttpRequest) -> bool:
        return self.has_capability(request, Capability.MANAGE)

    @admin.action(description="Release selected legal holds", permissions=["release"])
    def release_holds(self, request: HttpRequest, queryset: QuerySet[LegalHold]) -> HttpResponse | None:
        self.require_capability(request, Capability.MANAGE, queryset)
        if redirect := _needs_step_up(request, self, "Releasing holds"):
            return redirect
        released = 0
        for hold in queryset:
            try:
                legal_hold_release(hold=hold, actor=actor_from_request(request))
            except LegalHoldError as error:
                self.message_user(request, f"{hold.case_reference}: {error}", messages.WARNING)
            else:
                released += 1
        self.message_user(request, f"Released {released} hold(s); their content returns to normal expiry.")
        return None


def _form_page(
    admin_instance: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    form: forms.Form,
    *,
    title: str,
    submit_label: str,
) -> HttpResponse:
    context = {
        **admin_instance.admin_site.each_context(request),
        "opts": admin_instance.opts,
        "form": form,
        "title": title,
        "submit_label": submit_label,
    }
    response = TemplateResponse(request, FORM_TEMPLATE, context)
    add_never_cache_headers(response)
    return response


# --- subject exports and tombstones ------------------------------------------------------------------------


@admin.register(SubjectExport)
class SubjectExportAdmin(ContactIdColumnMixin[SubjectExport], ReadOnlyAdmin):
    scope_area = Area.SUBJECT_RIGHTS
    list_display = ("created_at", "contact_named", "tenant", "status", "requested_by", "expires_at", "download")
    list_select_related = ("tenant",)
    list_filter = ("status",)
    ordering = ("-created_at",)
    readonly_fields = (
        "tenant",
        "contact_id",
        "status",
        "requested_by",
        "created_at",
        "completed_at",
        "expires_at",
        "size",
        "downloaded_at",
        "error_code",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # exports start from the contact list (an action)

    @admin.display(description="archive")
    def download(self, obj: SubjectExport) -> str:
        if obj.status != ExportStatus.READY or obj.expires_at <= timezone.now():
            return "—"
        return format_html('<a href="{}">download</a>', reverse("admin:policies_subjectexport_download", args=[obj.pk]))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.download_view)
        return [path("<uuid:export_id>/download/", view, name="policies_subjectexport_download"), *super().get_urls()]

    def download_view(self, request: HttpRequest, export_id: uuid.UUID) -> HttpResponse:
        export = self.get_queryset(request).filter(pk=export_id).first()
        if export is None:
            raise Http404("No such export.")
        if not self.has_capability(request, Capability.MANAGE, export):
            raise PermissionDenied  # an auditor sees that an export exists, never its content

        def page(inner: HttpRequest) -> HttpResponse:
            try:
                data = subject_export_open(export=export, actor=actor_from_request(inner))
            except SubjectExportUnavailableError as error:
                self.message_user(inner, error.detail, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:policies_subjectexport_changelist"))
            response = HttpResponse(data, content_type="application/zip")
            response["Content-Disposition"] = f'attachment; filename="subject-export-{export.pk}.zip"'
            response["Cache-Control"] = "no-store"
            return response

        return step_up_required(page)(request)


@admin.register(ErasureTombstone)
class ErasureTombstoneAdmin(ReadOnlyAdmin):
    scope_area = Area.SUBJECT_RIGHTS
    list_display = ("contact_id", "tenant", "platform", "requested_by", "erased_at")
    ordering = ("-erased_at",)
    readonly_fields = ("tenant", "contact_id", "platform", "requested_by", "erased_at", "counts", "receipt_sha256")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- contact actions ---------------------------------------------------------------------------------------


admin.site.unregister(Contact)


@admin.register(Contact)
class SubjectRightsContactAdmin(ContactAdmin):
    """The contact list with the data subject's rights as actions: export (access) and erase."""

    actions = ["export_contacts", "erase_contacts"]  # the contact admin has none of its own

    def has_subject_rights_permission(self, request: HttpRequest) -> bool:
        return self.has_capability(request, Capability.MANAGE, area=Area.SUBJECT_RIGHTS)

    @admin.action(description="Export selected contacts (subject access)", permissions=["subject_rights"])
    def export_contacts(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        self.require_capability(request, Capability.MANAGE, queryset, area=Area.SUBJECT_RIGHTS)
        if redirect := _needs_step_up(request, self, "Exporting contacts"):
            return redirect
        actor = actor_from_request(request)
        started = running = 0
        for contact in queryset.select_related("tenant"):
            try:
                subject_export_request(tenant=contact.tenant, contact=contact, actor=actor)
                started += 1
            except SubjectExportRunningError:
                running += 1
        already = f" {running} already had one under way." if running else ""
        self.message_user(
            request,
            f"Export of {started} contact(s) started; the archives appear under Subject exports when ready.{already}",
        )
        return None

    @admin.action(description="Erase selected contacts (cannot be undone)", permissions=["subject_rights"])
    def erase_contacts(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        self.require_capability(request, Capability.MANAGE, queryset, area=Area.SUBJECT_RIGHTS)
        if redirect := _needs_step_up(request, self, "Erasing contacts"):
            return redirect
        if request.POST.get("confirm") != "yes":
            return self._erase_confirm_page(request, queryset)
        actor = actor_from_request(request)
        erased = 0
        for contact in queryset.select_related("tenant"):
            try:
                contact_erase(tenant=contact.tenant, contact=contact, actor=actor)
            except ErasureRefusedError as refusal:
                self.message_user(request, f"Contact {contact.pk} was not erased: {refusal.detail}", messages.ERROR)
            except OperationalError:
                self.message_user(request, f"Contact {contact.pk}: busy, run the action again.", messages.WARNING)
            else:
                erased += 1
        self.message_user(request, f"Erased {erased} contact(s).")
        return None

    def _erase_confirm_page(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Erase contacts",
            "contacts": list(queryset.select_related("tenant").order_by("pk")),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        response = TemplateResponse(request, ERASE_TEMPLATE, context)
        add_never_cache_headers(response)
        return response
