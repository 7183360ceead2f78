"""What the messaging admins share: read-only admins, and write-only credential forms behind a step-up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from accounts.admin_encrypted import EncryptedFieldsAdminMixin
from accounts.admin_scope import ReadOnlyMixin, ScopedInline
from accounts.stepup import step_up_required
from core.admin_theme import ThemedTabularInline
from messaging.channels import credential_checked
from messaging.errors import MessagingError

_ModelT = TypeVar("_ModelT", bound=Model)

FORM_TEMPLATE = "admin/messaging/credentials_form.html"
KEEP_CURRENT = "Leave blank to keep the current value; it is never shown."


class ReadOnlyEncryptedAdmin(ReadOnlyMixin, EncryptedFieldsAdminMixin[_ModelT]):
    """Rows are written by the pipeline and the provisioning commands, never edited by hand here."""


class ReadOnlyInline(ReadOnlyMixin, ScopedInline, ThemedTabularInline):  # type: ignore[type-arg]
    """A message's rows listed on its page, read-only."""

    extra = 0
    can_delete = False
    show_change_link = False


def secret_input(label: str, *, required: bool, help_text: str = KEEP_CURRENT) -> forms.CharField:
    """A password-style input: what was typed is never rendered back, not even after a validation error."""
    return forms.CharField(
        label=label,
        required=required,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )


def credential_field_checked(value: str, what: str) -> str:
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
