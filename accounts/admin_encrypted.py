"""Admin for models with encrypted fields: values are masked on every page, and never searched, filtered or
ordered by. A "Reveal" page shows chosen fields once, to a user whose role may reveal the row's area in its
tenant (``accounts.admin_scope``), after a fresh step-up and a typed reason; each reveal writes one
``CONTENT_REVEALED`` audit event (ids and the reason, never a value).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django import forms
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.admin.utils import unquote
from django.core.checks import CheckMessage, Error
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db.models import F, Model
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.cache import add_never_cache_headers
from django.utils.text import capfirst
from django.views.decorators.debug import sensitive_variables

from accounts.actors import actor_from_request
from accounts.admin_scope import TenantScopedAdmin
from accounts.stepup import step_up_required
from audit.models import AuditAction
from audit.services import DetailValue, audit_record
from encryption.errors import DecryptionError
from encryption.fields import EncryptedBytesField, EncryptedField, EncryptedJSONField
from encryption.querysets import encrypted_fields

if TYPE_CHECKING:
    from django.contrib.admin.options import _DisplayT, _FieldGroups, _FieldsetSpec, _ListFilterT
    from django.db.models.query import _OrderByFieldName
    from django.utils.datastructures import _ListOrTuple

MASKED = "•••••• (encrypted)"
EMPTY = "—"
UNREADABLE = "cannot be opened"
REASON_MIN_LENGTH = 15
REASON_MAX_LENGTH = 500
# Stable ids of the system checks that refuse an admin option naming an encrypted field.
CHECK_IDS = {"search_fields": "accounts.E101", "ordering": "accounts.E102", "list_filter": "accounts.E103"}

_ModelT = TypeVar("_ModelT", bound=Model)


def masked_name(field_name: str) -> str:
    """The admin attribute that displays ``field_name`` masked (no ``__``: Django would read it as a path)."""
    return f"masked_{field_name}"


def masked_value(obj: Model, field: EncryptedField) -> str:
    """The value is opened only to tell a readable value from one that is not; it is never returned."""
    try:
        value = getattr(obj, field.attname)
    except (DecryptionError, ValueError):  # ValueError: authenticated bytes that no longer decode
        return UNREADABLE
    return EMPTY if value is None else MASKED


def _masked_display(field: EncryptedField) -> Callable[[Model], str]:
    @admin.display(description=field.verbose_name)
    def display(obj: Model) -> str:
        return masked_value(obj, field)

    display.__name__ = masked_name(field.name)
    return display


def context_field_names(model: type[Model]) -> list[str]:
    """Editable fields the ciphertexts are bound to (tenant, row id): changing one would orphan every value."""
    attributes = {
        name for field in encrypted_fields(model) for name in (field.tenant_attribute, field.row_id_attribute) if name
    }
    pk_name = model._meta.pk.name if model._meta.pk else "pk"
    attributes = {pk_name if name == "pk" else name for name in attributes}
    return [
        field.name
        for field in model._meta.concrete_fields
        if field.editable and (field.name in attributes or field.attname in attributes)
    ]


def refers_to_encrypted(model: type[Model], lookup: str) -> bool:
    """Whether a search, ordering or filter path (``-body``, ``^contact__phone``) reaches an encrypted field."""
    current: object = model
    for part in lookup.lstrip("-^=@").split("__"):
        if not (isinstance(current, type) and issubclass(current, Model)):
            return False
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # a lookup or transform name: the path ended on a plain field
        if isinstance(field, EncryptedField):
            return True
        current = field.related_model if field.is_relation else None
    return False


def _ordering_paths(item: object) -> list[str]:
    if isinstance(item, str):
        return [item]
    if isinstance(item, F):
        return [_reference_name(item)]
    flatten = getattr(item, "flatten", None)  # OrderBy and other expressions
    return [_reference_name(part) for part in flatten() if isinstance(part, F)] if flatten else []


def _reference_name(reference: F) -> str:
    name: str = reference.name  # type: ignore[attr-defined]  # django-stubs does not declare F.name
    return name


def _list_filter_path(item: object) -> str | None:
    if isinstance(item, tuple | list) and item:
        item = item[0]
    return item if isinstance(item, str) else None  # a SimpleListFilter class names no path


def audit_tenant_id(obj: Model) -> uuid.UUID | None:
    """The row's tenant when the model has one; None puts the event on the operator chain."""
    value = getattr(obj, "tenant_id", None)
    return None if value is None else uuid.UUID(str(value))


@dataclass(frozen=True)
class RevealedField:
    name: str
    label: str
    text: str
    is_opened: bool


def plaintext_text(field: EncryptedField, value: Any) -> str:
    if value is None:
        return EMPTY
    if isinstance(field, EncryptedBytesField):
        return bytes(value).hex(" ")
    if isinstance(field, EncryptedJSONField):
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return str(value)


@sensitive_variables()
def reveal_field(obj: Model, field: EncryptedField) -> RevealedField:
    label = str(capfirst(field.verbose_name)) + (" (hex)" if isinstance(field, EncryptedBytesField) else "")
    try:
        value = getattr(obj, field.attname)
    except (DecryptionError, ValueError):
        return RevealedField(field.name, label, UNREADABLE, is_opened=False)
    return RevealedField(field.name, label, plaintext_text(field, value), is_opened=True)


class RevealForm(forms.Form):
    field_names = forms.MultipleChoiceField(label="Fields to reveal", widget=forms.CheckboxSelectMultiple)
    reason = forms.CharField(
        min_length=REASON_MIN_LENGTH,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why you need to see these values (a ticket, a request). It is kept in the audit log.",
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field_names = cast(forms.MultipleChoiceField, self.fields["field_names"])
        field_names.choices = choices  # none chosen up front: the user picks what they need


class EncryptedFieldsAdminMixin(TenantScopedAdmin[_ModelT]):
    """Base (or mixin, first in the bases) for the admin of a model with encrypted fields.

    Encrypted fields may be named in ``fields``, ``fieldsets``, ``readonly_fields`` and ``list_display``:
    they are replaced by masked displays, and added to the change form when not named. Naming them in
    ``search_fields``, ``ordering`` or ``list_filter`` is a system check error; at run time they are dropped.
    """

    change_form_template = "admin/encrypted/change_form.html"
    reveal_template = "admin/encrypted/reveal.html"

    def __init__(self, model: type[_ModelT], admin_site: AdminSite) -> None:
        super().__init__(model, admin_site)
        self.encrypted_fields_by_name = {field.name: field for field in encrypted_fields(model)}
        for field in self.encrypted_fields_by_name.values():
            setattr(self, masked_name(field.name), _masked_display(field))

    # --- masking ---

    def _masked(self, name: str) -> str:
        return masked_name(name) if name in self.encrypted_fields_by_name else name

    def _masked_groups(self, groups: _FieldGroups) -> list[str | _ListOrTuple[str]]:
        return [self._masked(group) if isinstance(group, str) else [self._masked(n) for n in group] for group in groups]

    def _masked_missing(self, shown: Iterable[str | _ListOrTuple[str]]) -> list[str]:
        names = {name for group in shown for name in ([group] if isinstance(group, str) else group)}
        return [masked_name(name) for name in self.encrypted_fields_by_name if masked_name(name) not in names]

    def get_fields(self, request: HttpRequest, obj: _ModelT | None = None) -> _FieldGroups:
        groups = self._masked_groups(super().get_fields(request, obj))
        return [*groups, *self._masked_missing(groups)]

    def get_fieldsets(self, request: HttpRequest, obj: _ModelT | None = None) -> _FieldsetSpec:
        fieldsets = []
        for title, options in super().get_fieldsets(request, obj):
            masked_options = options.copy()
            masked_options["fields"] = self._masked_groups(options["fields"])
            fieldsets.append((title, masked_options))
        missing = self._masked_missing(group for _, options in fieldsets for group in options["fields"])
        return [*fieldsets, ("Encrypted", {"fields": tuple(missing)})] if missing else fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: _ModelT | None = None) -> _ListOrTuple[str]:
        names = [self._masked(name) for name in super().get_readonly_fields(request, obj)]
        if obj is not None:  # a stored row keeps its tenant and id, or its values would no longer open
            names += [name for name in context_field_names(self.model) if name not in names]
        return [*names, *self._masked_missing(names)]

    def get_exclude(self, request: HttpRequest, obj: _ModelT | None = None) -> _ListOrTuple[str] | None:
        excluded = super().get_exclude(request, obj)
        if excluded is None:  # what Django falls back to when the admin declares no exclude
            excluded = getattr(getattr(self.form, "_meta", None), "exclude", None)
        return [*(excluded or ()), *self.encrypted_fields_by_name]

    def get_list_display(self, request: HttpRequest) -> _ListOrTuple[_DisplayT[_ModelT]]:
        return [self._masked(item) if isinstance(item, str) else item for item in super().get_list_display(request)]

    def get_list_display_links(
        self, request: HttpRequest, list_display: _ListOrTuple[_DisplayT[_ModelT]]
    ) -> _ListOrTuple[_DisplayT[_ModelT]]:
        links = super().get_list_display_links(request, list_display)
        return [self._masked(item) if isinstance(item, str) else item for item in links] if links else links

    # --- no lookups or ordering on ciphertext ---

    def get_search_fields(self, request: HttpRequest) -> _ListOrTuple[str]:
        return [name for name in super().get_search_fields(request) if not refers_to_encrypted(self.model, name)]

    def get_ordering(self, request: HttpRequest) -> _ListOrTuple[_OrderByFieldName]:
        return [item for item in super().get_ordering(request) if not self._orders_by_encrypted(item)]

    def get_list_filter(self, request: HttpRequest) -> _ListOrTuple[_ListFilterT]:
        return [item for item in super().get_list_filter(request) if not self._filters_encrypted(item)]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        return not refers_to_encrypted(self.model, lookup) and super().lookup_allowed(lookup, value, request)

    def _orders_by_encrypted(self, item: object) -> bool:
        return any(refers_to_encrypted(self.model, name) for name in _ordering_paths(item))

    def _filters_encrypted(self, item: object) -> bool:
        name = _list_filter_path(item)
        return name is not None and refers_to_encrypted(self.model, name)

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        return [*super().check(**kwargs), *self._encrypted_option_errors()]

    def _encrypted_option_errors(self) -> list[CheckMessage]:
        offending = {
            "search_fields": [name for name in self.search_fields if refers_to_encrypted(self.model, name)],
            "ordering": [str(item) for item in self.ordering or () if self._orders_by_encrypted(item)],
            "list_filter": [str(_list_filter_path(item)) for item in self.list_filter if self._filters_encrypted(item)],
        }
        return [
            Error(
                f"{type(self).__name__}.{option} names encrypted field(s) {names}.",
                hint="Encrypted values cannot be searched, filtered or ordered; use a blind index for exact matches.",
                obj=type(self),
                id=CHECK_IDS[option],
            )
            for option, names in offending.items()
            if names
        ]

    # --- reveal (``has_reveal_permission`` comes from the role: its own capability, never the view one) ---

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_reveal"
        reveal = path("<path:object_id>/reveal/", self.admin_site.admin_view(self.reveal_view), name=name)
        return [reveal, *super().get_urls()]  # first: "<path:object_id>/" would swallow it

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))  # the role in this row's tenant decides
        can_reveal = bool(self.encrypted_fields_by_name) and self.has_reveal_permission(request, obj)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "can_reveal": can_reveal})

    def reveal_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        if not self.has_reveal_permission(request, obj):
            raise PermissionDenied

        def page(inner_request: HttpRequest) -> HttpResponse:
            return self._reveal_page(inner_request, obj)

        return step_up_required(page)(request)

    @sensitive_variables("revealed", "context")
    def _reveal_page(self, request: HttpRequest, obj: _ModelT) -> HttpResponse:
        choices = [(name, str(capfirst(field.verbose_name))) for name, field in self.encrypted_fields_by_name.items()]
        form = RevealForm(request.POST if request.method == "POST" else None, choices=choices)
        revealed: list[RevealedField] = []
        if form.is_valid():  # never on a GET: an unbound form is not valid
            revealed = self._reveal(
                request, obj, chosen=form.cleaned_data["field_names"], reason=form.cleaned_data["reason"]
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": "Reveal encrypted fields",
            "subtitle": str(obj),
            "form": form,
            "revealed": revealed,
        }
        response = TemplateResponse(request, self.reveal_template, context)
        add_never_cache_headers(response)
        return response

    @sensitive_variables("revealed")
    def _reveal(self, request: HttpRequest, obj: _ModelT, *, chosen: list[str], reason: str) -> list[RevealedField]:
        fields = [field for name, field in self.encrypted_fields_by_name.items() if name in chosen]
        revealed = [reveal_field(obj, field) for field in fields]
        failed = [item.name for item in revealed if not item.is_opened]
        self._reveal_record(request, obj, fields=[field.name for field in fields], reason=reason, failed=failed)
        return revealed

    def _reveal_record(
        self, request: HttpRequest, obj: _ModelT, *, fields: list[str], reason: str, failed: list[str]
    ) -> None:
        details: dict[str, DetailValue] = {
            "model": self.opts.label,
            "object_id": str(obj.pk),
            "fields": ",".join(fields),
            "reason": reason,
        }
        if failed:
            details["failed_fields"] = ",".join(failed)
        actor = actor_from_request(request)
        audit_record(
            action=AuditAction.CONTENT_REVEALED,
            tenant_id=audit_tenant_id(obj),
            actor_id=actor.user_id,
            actor_label=actor.label,
            target_type=self.opts.label_lower,
            target_id=str(obj.pk),
            ip=actor.ip,
            details=details,
        )
