"""The contact and conversation directory both directions share: the person a message is with, found by
blind index or created once (with their own subject key), and the conversation of a channel with them.

Lookups run in bulk (one query per tenant and platform); concurrent workers agree through unique
constraints, the loser of a race reading the winner's row.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from core.bulk import ColumnChange, rows_update
from core.db import rows_insert
from encryption.blind_index import blind_index_candidates, blind_index_filter
from encryption.errors import DecryptionError
from encryption.querysets import fresh_scope_keys_create
from messaging.models import Channel, Contact, Conversation

ContactKey = tuple[uuid.UUID, str, str]  # tenant, platform, external id


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactWanted:
    """A person an item is with, as the item names them; ``seen_at`` is the item's provider time."""

    channel: Channel
    external_id: str
    profile: dict[str, object] | None = None
    business_user_id: str | None = None
    seen_at: datetime | None = None

    @property
    def key(self) -> ContactKey:
        return (self.channel.tenant_id, self.channel.platform, self.external_id)

    def row(self) -> Contact:
        return Contact(
            tenant_id=self.channel.tenant_id,
            platform=self.channel.platform,
            external_id=self.external_id,
            business_user_id=self.business_user_id,
            profile=self.profile,
            profile_seen_at=self.seen_at if self.profile is not None else None,
        )

    def names_newer_profile_than(self, other: ContactWanted) -> bool:
        if self.profile is None or self.seen_at is None:
            return False
        return other.profile is None or other.seen_at is None or self.seen_at > other.seen_at


def contacts_resolve(wanted: Sequence[ContactWanted]) -> dict[ContactKey, Contact]:
    """(tenant, platform, external id) → contact: one query per tenant and platform, creating the missing ones."""
    groups: dict[tuple[uuid.UUID, str], dict[str, ContactWanted]] = defaultdict(dict)
    for person in wanted:
        group = groups[(person.channel.tenant_id, person.channel.platform)]
        known = group.get(person.external_id)
        if known is None or person.names_newer_profile_than(known):
            group[person.external_id] = person
    found: dict[ContactKey, Contact] = {}
    for (tenant_id, platform), by_id in groups.items():
        candidates = {
            candidate: external_id
            for external_id in by_id
            for candidate in blind_index_candidates(
                Contact, "external_id_index", tenant_id=tenant_id, value=external_id
            )
        }
        rows = Contact.objects.filter(tenant_id=tenant_id, platform=platform, external_id_index__in=list(candidates))
        # The profile is read only where an item names one, to compare.
        deferred = ("external_id",) if any(person.profile for person in by_id.values()) else ("external_id", "profile")
        for row in rows.defer(*deferred):
            found[(tenant_id, platform, candidates[bytes(row.external_id_index)])] = row
        missing = [person for external_id, person in by_id.items() if (tenant_id, platform, external_id) not in found]
        found.update(_contacts_create(missing))
        pairs = [(found[(tenant_id, platform, key)], person) for key, person in by_id.items()]
        _business_user_ids_fill(pairs)
        _profiles_refresh(pairs)
    return found


def _contacts_create(missing: Sequence[ContactWanted]) -> dict[ContactKey, Contact]:
    """Create the missing contacts with their subject keys in bulk; a concurrent worker's row wins a race."""
    if not missing:
        return {}
    rows = [person.row() for person in missing]
    fresh_scope_keys_create(rows, "external_id")
    created = rows_insert(rows)
    result: dict[ContactKey, Contact] = {}
    for person, row in zip(missing, rows, strict=True):
        result[person.key] = row if row.pk in created else contact_for(person)  # lost a race: the other worker's row
    return result


def _business_user_ids_fill(pairs: Sequence[tuple[Contact, ContactWanted]]) -> None:
    """A contact first known by phone number learns its business-scoped user id (BSUID) when Meta sends it."""
    for contact, person in pairs:
        if person.business_user_id and contact.business_user_id is None:
            contact.business_user_id = person.business_user_id
            contact.save(update_fields=["business_user_id", "business_user_id_index"])


def _profiles_refresh(pairs: Sequence[tuple[Contact, ContactWanted]]) -> None:
    """The profile of the newest item that names one wins (a person renamed; an older item redelivered changes
    nothing): a new name is written over the old one, which is not kept; the same name only moves the time."""
    newer_same: dict[uuid.UUID, datetime] = {}
    for contact, person in pairs:
        seen_at = person.seen_at
        if person.profile is None or seen_at is None:
            continue
        if contact.profile_seen_at is not None and contact.profile_seen_at >= seen_at:
            continue
        try:
            current = contact.profile
        except DecryptionError:  # an erased person: their key is gone, nothing is written under it again
            continue
        if current == person.profile:
            newer_same[contact.pk] = seen_at
            continue
        contact.profile = person.profile
        contact.profile_seen_at = seen_at
        contact.save(update_fields=["profile", "profile_seen_at", "updated_at"])
    guard = "{column} IS NULL OR {column} < %s"
    rows_update(
        Contact,
        {
            pk: {"profile_seen_at": ColumnChange.to(at, guard=guard, guard_values=(at,))}
            for pk, at in newer_same.items()
        },
    )


def numbers_changed_link(changes: Sequence[tuple[Contact, Contact]]) -> None:
    """Each (old, new): the person behind ``old`` changed their number and is ``new`` from now on."""
    for old, new in changes:
        if new.pk not in (old.pk, old.changed_to_id):
            Contact.objects.filter(pk=old.pk).update(changed_to=new)
            old.changed_to_id = new.pk


def contact_for(person: ContactWanted) -> Contact:
    """The tenant's contact for this platform id, created once even under concurrent workers."""
    channel = person.channel
    query = blind_index_filter(Contact, "external_id_index", tenant_id=channel.tenant_id, value=person.external_id)
    existing: Contact | None = Contact.objects.filter(query, tenant=channel.tenant, platform=channel.platform).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            contact = person.row()
            contact.save(force_insert=True)
            return contact
    except IntegrityError:  # another worker created it first; its index key may be new to us too
        query = blind_index_filter(Contact, "external_id_index", tenant_id=channel.tenant_id, value=person.external_id)
        found: Contact = Contact.objects.get(query, tenant=channel.tenant, platform=channel.platform)
        return found


def conversations_resolve(pairs: set[tuple[Channel, Contact]]) -> dict[tuple[uuid.UUID, uuid.UUID], Conversation]:
    """(channel, contact) → conversation, creating the missing ones in one statement."""
    wanted = {(channel.pk, contact.pk): (channel, contact) for channel, contact in pairs}
    found = _conversations_existing(wanted)
    missing = [
        Conversation(tenant_id=channel.tenant_id, channel=channel, contact=contact)
        for key, (channel, contact) in wanted.items()
        if key not in found
    ]
    created = rows_insert(missing)
    found.update({(row.channel_id, row.contact_id): row for row in missing if row.pk in created})
    if len(found) < len(wanted):  # another worker created some first
        found = _conversations_existing(wanted)
    return found


def _conversations_existing(
    wanted: dict[tuple[uuid.UUID, uuid.UUID], tuple[Channel, Contact]],
) -> dict[tuple[uuid.UUID, uuid.UUID], Conversation]:
    rows = Conversation.objects.filter(
        channel_id__in={channel_id for channel_id, _ in wanted}, contact_id__in={contact_id for _, contact_id in wanted}
    )
    return {(row.channel_id, row.contact_id): row for row in rows if (row.channel_id, row.contact_id) in wanted}


def conversation_for(*, channel: Channel, contact: Contact) -> Conversation:
    return conversations_resolve({(channel, contact)})[(channel.pk, contact.pk)]
