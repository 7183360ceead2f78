"""Changelist columns that open sealed values: the keys a page needs are loaded once for the page."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from accounts.admin_scope import Area, Capability, is_operator, tenants_with
from messaging.admin.display import HIDDEN, contact_label, message_preview, sealed_keys_prefetch
from messaging.models import Contact, Message

if TYPE_CHECKING:
    from django.contrib.admin.options import _DisplayT
    from django.contrib.admin.views.main import ChangeList
    from django.utils.datastructures import _ListOrTuple

_ModelT = TypeVar("_ModelT", bound=Model)
CONTACT_SEALED = ("external_id", "profile")
PREVIEW_COLUMN = "preview"


def _related(row: Model, path: str) -> Model | None:
    current: Any = row
    for part in path.split("__") if path else ():
        current = getattr(current, part, None)
        if current is None:
            return None
    return current if isinstance(current, Model) else None


class PageKeysMixin(admin.ModelAdmin[_ModelT]):
    """``page_sealed`` maps a relation path (``""`` for the row itself, ``contact``) to the sealed fields a
    column opens there; their keys are loaded in one query per page (see ``messaging.admin.display``)."""

    page_sealed: ClassVar[dict[str, tuple[str, ...]]] = {}

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)  # evaluated once here; the template reads the same cached rows
        for path, names in self.page_sealed.items():
            related = [_related(row, path) for row in rows]
            sealed_keys_prefetch([row for row in related if row is not None], names)
        return changelist


@admin.display(description="contact")
def contact_column(obj: Model) -> str:
    contact = obj if isinstance(obj, Contact) else getattr(obj, "contact", None)
    return contact_label(contact) if isinstance(contact, Contact) else "—"


class PreviewColumnMixin(PageKeysMixin[_ModelT]):
    """A ``preview`` column: the message's type and text length for users whose role may reveal conversations in
    the row's tenant; ``•••`` for everyone else. ``message_path`` leads from the row to its message."""

    message_path: ClassVar[str] = ""

    @admin.display(description="content")
    def preview(self, obj: _ModelT) -> str:
        return HIDDEN  # replaced per request by get_list_display, which knows who is asking

    def get_list_display(self, request: HttpRequest) -> _ListOrTuple[_DisplayT[_ModelT]]:
        shown = super().get_list_display(request)
        column = self.preview_column(request)
        return [column if item == PREVIEW_COLUMN else item for item in shown]

    def preview_column(self, request: HttpRequest) -> Callable[[_ModelT], str]:
        allowed = None if is_operator(request) else set(tenants_with(request, Area.CONVERSATIONS, Capability.REVEAL))

        @admin.display(description="content")
        def preview(obj: _ModelT) -> str:
            message = _related(obj, self.message_path)
            if not isinstance(message, Message) or (allowed is not None and message.tenant_id not in allowed):
                return HIDDEN
            return message_preview(message)

        return preview


CONTACT_LABEL = "_contact_label"
GONE = "— (no longer stored)"


class ContactIdColumnMixin(admin.ModelAdmin[_ModelT]):
    """A ``contact_named`` column for rows that keep a contact's id without a foreign key (exports, holds): the
    page's contacts are loaded in one query, their keys in one more; a contact erased since shows as gone."""

    def page_contact_ids(self, rows: list[_ModelT]) -> list[uuid.UUID | None]:
        """Each row's contact id, in order (a hold on a conversation names the conversation's contact)."""
        return [getattr(row, "contact_id", None) for row in rows]

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        contact_ids = self.page_contact_ids(rows)
        contacts = Contact.objects.in_bulk({contact_id for contact_id in contact_ids if contact_id})
        sealed_keys_prefetch(contacts.values(), CONTACT_SEALED)
        for row, contact_id in zip(rows, contact_ids, strict=True):
            contact = contacts.get(contact_id) if contact_id else None
            label = contact_label(contact) if contact else (GONE if contact_id else "—")
            setattr(row, CONTACT_LABEL, label)
        return changelist

    @admin.display(description="contact")
    def contact_named(self, obj: _ModelT) -> str:
        return str(getattr(obj, CONTACT_LABEL, "—"))
