"""The address book of the WhatsApp Business app that shares a channel's number (coexistence): each entry the
business adds, edits or removes there is kept on the contact, as ``profile.address_book``.

``{"full_name", "first_name", "saved", "synced_at"}``: the names as the business saved them (None once
removed), whether the number is in the book now, and the moment of the change. A change older than the one
kept (Meta may deliver them out of order) and a redelivery change nothing. A removal keeps the contact
and its messages: only the saved names go. A removal of a number never seen creates nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from encryption.blind_index import blind_index_filter
from messaging.contacts import ContactKey, ContactWanted
from messaging.models import Channel, Contact
from messaging.providers.events import AddressBookEvent

ADDRESS_BOOK = "address_book"


def address_book_wanted(entries: Sequence[tuple[Channel, AddressBookEvent]]) -> list[ContactWanted]:
    """The people an addition or edit names: resolved (created when new) with the delivery's other contacts."""
    return [
        ContactWanted(channel=channel, external_id=event.person.external_id)
        for channel, event in entries
        if not event.is_removed
    ]


def address_book_apply(
    entries: Sequence[tuple[Channel, AddressBookEvent]], *, contacts: dict[ContactKey, Contact]
) -> list[str]:
    """Apply each change in order, inside the caller's transaction, the contacts it names locked in one
    statement; one outcome per change."""
    known = [
        contacts.get((channel.tenant_id, channel.platform, event.person.external_id))
        or _existing(channel, event.person.external_id)
        for channel, event in entries
    ]
    locked = Contact.objects.select_for_update().in_bulk([contact.pk for contact in known if contact is not None])
    changed: dict[uuid.UUID, Contact] = {}
    outcomes = []
    for contact, (_, event) in zip(known, entries, strict=True):
        row = locked.get(contact.pk) if contact is not None else None
        outcome = "address_book_unknown" if row is None else _apply(row, event)
        if row is not None and outcome == "address_book":
            changed[row.pk] = row
        outcomes.append(outcome)
    for row in changed.values():
        row.save(update_fields=["profile", "updated_at"])
    return outcomes


def _apply(contact: Contact, event: AddressBookEvent) -> str:
    """The change on the locked row, in memory; "duplicate" when it is not newer than the one kept."""
    profile = dict(contact.profile or {})
    if not _is_newer(profile.get(ADDRESS_BOOK), event.timestamp):
        return "duplicate"
    profile[ADDRESS_BOOK] = {
        "full_name": event.full_name,
        "first_name": event.first_name,
        "saved": not event.is_removed,
        "synced_at": event.timestamp.isoformat(),
    }
    contact.profile = profile
    return "address_book"


def _is_newer(kept: object, moment: datetime) -> bool:
    if not isinstance(kept, dict) or not isinstance(kept.get("synced_at"), str):
        return True
    try:
        return moment > datetime.fromisoformat(kept["synced_at"])
    except ValueError:
        return True


def _existing(channel: Channel, external_id: str) -> Contact | None:
    query = blind_index_filter(Contact, "external_id_index", tenant_id=channel.tenant_id, value=external_id)
    found: Contact | None = Contact.objects.filter(
        query, tenant_id=channel.tenant_id, platform=channel.platform
    ).first()
    return found
