"""Subject erasure: everything about one contact goes, its subject key is destroyed, a tombstone and a receipt stay.

Refused (``ErasureRefusedError``) while a legal hold in force covers the contact: the tenant, the contact or one
of its conversations. Otherwise, in short batches (each its own transaction, with a lock timeout):

1. its messages with their attachments (and files), statuses, send attempts and outbox entries, and the parked
   statuses that name one of them;
2. idempotency records of sends to it, and processed raw deliveries and quarantined items that mention its
   identifiers (raw bodies are searched for the JSON string of each identifier);
3. its subject exports' archives;
4. then in one transaction: whatever arrived meanwhile, its conversations and the contact row; its subject keys
   are scheduled for destruction (destroyed at once when the key cache window allows, else by the
   ``maintenance.keys_destroy_due`` beat within a minute); an ``ErasureTombstone`` (no personal data) and the
   erasure receipt in the audit log (counts, key ids and fingerprints; the tombstone holds the receipt's
   SHA-256); and the ``contact.erased`` business event (ids only).

A run that stops half-way is finished by running it again. A later webhook from the same person creates a
fresh contact: the contact's blind index is free again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Tenant
from audit.models import AuditAction
from audit.services import audit_record
from core.raw_ledgers import raw_ledgers
from encryption.errors import DecryptionError
from encryption.fields import EncryptedField, Sealed
from encryption.models import DataKey, KeyState, Purpose
from encryption.services import data_key_destroy_now, data_key_schedule_destroy
from messaging.business_events import BusinessEvent, EventType, business_events_record
from messaging.models import (
    Channel,
    Contact,
    Conversation,
    IdempotencyRecord,
    MediaAttachment,
    Message,
    ParkedStatus,
    QuarantinedItem,
)
from policies.models import ErasureTombstone
from policies.retention.purge.kinds import files_delete, timeouts_set
from policies.subjects.export import subject_exports_discard
from policies.subjects.holds import contact_holds

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
RAW_BATCH = 200
KINDS = (  # what a tombstone counts, always all of them
    "messages",
    "attachments",
    "files",
    "status_events",
    "send_attempts",
    "outbox_entries",
    "parked_statuses",
    "idempotency_records",
    "raw_deliveries",
    "quarantined_items",
    "exports",
    "conversations",
    "contacts",
    "subject_keys",
)
Progress = Callable[[str, int], None]


class ErasureRefusedError(Exception):
    """The contact may not be erased now; the message says why (no personal data)."""

    def __init__(self, detail: str, *, hold_ids: Sequence[uuid.UUID] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hold_ids = list(hold_ids)


def contact_erase(
    *,
    tenant: Tenant,
    contact: Contact,
    actor: Actor,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> ErasureTombstone:
    """Erase one of ``tenant``'s contacts (see the module docstring); returns the tombstone."""
    now = now or timezone.now()
    if contact.tenant_id != tenant.pk:
        raise Contact.DoesNotExist("no such contact in this tenant")
    _refuse_if_held(contact, actor, now)
    counts: Counter[str] = Counter(dict.fromkeys(KINDS, 0))
    report = progress or (lambda kind, done: None)
    _messages_delete(Message.objects.filter(contact_id=contact.pk), counts, batch_size, report)
    counts["idempotency_records"] += _idempotency_records_delete(contact)
    _raw_items_delete(contact, counts, report)
    counts["exports"] += subject_exports_discard(tenant_id=tenant.pk, contact_id=contact.pk)
    try:
        return _finish(tenant, contact, actor, counts, now)
    except ErasureRefusedError as refusal:  # a hold placed while the batches ran: recorded outside the rollback
        _refusal_record(contact, actor, refusal.hold_ids)
        raise


def _refuse_if_held(contact: Contact, actor: Actor, now: datetime, *, record: bool = True) -> None:
    holds = list(
        contact_holds(tenant_id=contact.tenant_id, contact_id=contact.pk, now=now).values_list("pk", flat=True)
    )
    if not holds:
        return
    if record:
        _refusal_record(contact, actor, holds)
    raise ErasureRefusedError(
        "A legal hold covers this contact (the tenant, the contact or one of its conversations): it cannot be "
        f"erased until the hold is released. Holds: {', '.join(str(hold_id) for hold_id in holds)}.",
        hold_ids=holds,
    )


def _refusal_record(contact: Contact, actor: Actor, holds: Sequence[uuid.UUID]) -> None:
    audit_record(
        action=AuditAction.CONTACT_ERASURE_REFUSED,
        tenant_id=contact.tenant_id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        ip=actor.ip,
        target_type="contact",
        target_id=str(contact.pk),
        details={"legal_holds": ",".join(str(hold_id) for hold_id in holds)},
    )


# --- rows and files ----------------------------------------------------------------------------------------


def _messages_delete(
    messages: models.QuerySet[Message], counts: Counter[str], batch_size: int, report: Progress
) -> None:
    while ids := list(messages.order_by().values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            timeouts_set()
            names = _message_rows_delete(ids, counts)
            transaction.on_commit(functools.partial(files_delete, names))
        counts["files"] += len(names)
        report("messages", counts["messages"])


def _message_rows_delete(ids: list[uuid.UUID], counts: Counter[str]) -> list[str]:
    """Delete these messages and everything hanging from them; the names of their files (deleted after commit)."""
    attachments = MediaAttachment.objects.filter(message_id__in=ids)
    names = [name for name in attachments.values_list("storage_name", flat=True) if name]
    counts["attachments"] += attachments.delete()[0]
    counts["parked_statuses"] += ParkedStatus.objects.filter(callback_data__in=[str(pk) for pk in ids]).delete()[0]
    _, deleted = Message.objects.filter(pk__in=ids).delete()
    for label, kind in (
        ("messaging.Message", "messages"),
        ("messaging.StatusEvent", "status_events"),
        ("messaging.SendAttempt", "send_attempts"),
        ("messaging.OutboxEntry", "outbox_entries"),
    ):
        counts[kind] += deleted.get(label, 0)
    return names


def _idempotency_records_delete(contact: Contact) -> int:
    """Records of sends to the contact (their answer names it; the request hash covers its number)."""
    records = IdempotencyRecord.objects.filter(tenant_id=contact.tenant_id, response_body__contact=str(contact.pk))
    return records.delete()[0]


def _raw_items_delete(contact: Contact, counts: Counter[str], report: Progress) -> None:
    """Processed raw deliveries that mention the contact's identifiers: of the tenant's own apps, and of shared
    apps when they also name one of the tenant's channels (their bodies can mix tenants); and the tenant's
    quarantined items that mention them. Deliveries still to be processed are left: processing one creates a
    fresh contact."""
    needles = _needles(contact)
    if not needles:
        return
    tenant_id = contact.tenant_id
    channels = Channel.objects.filter(tenant_id=tenant_id)
    shared_apps = set(channels.filter(meta_app__tenant__isnull=True).values_list("meta_app_id", flat=True))
    channel_needles = [
        json.dumps(provider_id).encode() for provider_id in channels.values_list("provider_id", flat=True)
    ]
    for ledger in raw_ledgers():
        settled, body = ledger.settled_rows(), ledger.body_field
        own = settled.filter(tenant_id=tenant_id)
        counts["raw_deliveries"] += _mentioning_delete(own, body, needles, report=report, kind="raw_deliveries")
        shared = settled.filter(tenant_id__isnull=True, meta_app_id__in=shared_apps)
        counts["raw_deliveries"] += _mentioning_delete(
            shared, body, needles, also=channel_needles, report=report, kind="raw_deliveries"
        )
    items = QuarantinedItem.objects.filter(tenant_id=tenant_id)
    counts["quarantined_items"] += _mentioning_delete(
        items, "payload", needles, report=report, kind="quarantined_items"
    )


def _needles(contact: Contact) -> list[bytes]:
    """Each identifier as it stands in a JSON body (a quoted string), so a longer number does not match."""
    values = []
    for name in ("external_id", "business_user_id"):
        try:
            value = getattr(contact, name)
        except DecryptionError:  # its subject key is gone already: nothing of it can be read anywhere
            continue
        if value:
            values.append(json.dumps(value, ensure_ascii=False).encode())
    return values


def _mentioning_delete(
    rows: models.QuerySet[Any],
    field_name: str,
    needles: list[bytes],
    *,
    also: list[bytes] | None = None,
    report: Progress,
    kind: str,
) -> int:
    """Scan ``rows`` in pages by id, opening each sealed value (never served: searched, then deleted), and
    delete those that mention one of ``needles`` (and, with ``also``, one of those too)."""
    field = rows.model._meta.get_field(field_name)
    if not isinstance(field, EncryptedField):
        raise TypeError(f"{rows.model._meta.label}.{field_name} is not encrypted")
    deleted, last = 0, None
    while True:
        page = rows.filter(pk__gt=last) if last is not None else rows
        batch = list(page.order_by("pk").only("pk", field.tenant_attribute or "pk", field_name)[:RAW_BATCH])
        if not batch:
            return deleted
        last = batch[-1].pk
        matching = [row.pk for row in batch if _mentions(row, field, needles, also)]
        if matching:
            deleted += rows.model._default_manager.filter(pk__in=matching).delete()[0]
            report(kind, deleted)


def _mentions(row: models.Model, field: EncryptedField, needles: list[bytes], also: list[bytes] | None) -> bool:
    stored = row.__dict__.get(field.attname)
    if not isinstance(stored, Sealed):
        return False
    try:
        plaintext = field.open_bytes(row, stored)
    except DecryptionError:  # its day key is destroyed: nothing readable is left in it
        return False
    if also is not None and not any(needle in plaintext for needle in also):
        return False
    return any(needle in plaintext for needle in needles)


# --- the contact, its keys, the tombstone and the receipt ---------------------------------------------------


def _finish(tenant: Tenant, contact: Contact, actor: Actor, counts: Counter[str], now: datetime) -> ErasureTombstone:
    with transaction.atomic():
        timeouts_set()
        locked = Contact.objects.select_for_update().filter(pk=contact.pk).first()  # inserts naming it wait now
        if locked is None:
            raise Contact.DoesNotExist("the contact was erased meanwhile")
        _refuse_if_held(locked, actor, now, record=False)
        names = _leftovers_delete(locked, counts)
        counts["files"] += len(names)
        conversations = Conversation.objects.filter(contact_id=locked.pk)
        business_events_record(_erased_events(locked, list(conversations.values_list("channel_id", flat=True)), now))
        counts["conversations"] += conversations.delete()[0]
        Contact.objects.filter(pk=locked.pk).delete()
        counts["contacts"] += 1
        keys = _subject_keys_destroy(tenant, locked.pk, actor)
        counts["subject_keys"] += len(keys)
        receipt = _receipt(locked, counts, keys, now)
        receipt_sha256 = hashlib.sha256(_canonical(receipt)).hexdigest()
        tombstone = ErasureTombstone.objects.create(
            tenant=tenant,
            contact_id=locked.pk,
            platform=locked.platform,
            requested_by=actor.label[:200],
            erased_at=now,
            counts=dict(counts),
            receipt_sha256=receipt_sha256,
        )
        audit_record(
            action=AuditAction.CONTACT_ERASED,
            tenant_id=tenant.pk,
            actor_id=actor.user_id,
            actor_label=actor.label,
            ip=actor.ip,
            target_type="contact",
            target_id=str(locked.pk),
            details={**receipt, "receipt_sha256": receipt_sha256},
        )
        transaction.on_commit(functools.partial(files_delete, names))
    return tombstone


def _erased_events(contact: Contact, channel_ids: list[uuid.UUID], now: datetime) -> list[BusinessEvent]:
    """``contact.erased`` once per channel it wrote on (an endpoint of one channel learns of it too), or once
    without a channel; ids only. Its earlier events keep their ids and facts, which hold nothing of the person:
    a delivery reads content from the message rows, deleted here."""
    channels: list[uuid.UUID | None] = [*sorted(set(channel_ids), key=str)] or [None]
    return [
        BusinessEvent(
            type=EventType.CONTACT_ERASED,
            tenant_id=contact.tenant_id,
            occurred_at=now,
            channel_id=channel_id,
            contact_id=contact.pk,
        )
        for channel_id in channels
    ]


def _leftovers_delete(contact: Contact, counts: Counter[str]) -> list[str]:
    """Messages that arrived while the batches ran (their inserts waited for the lock and see no contact now)."""
    ids = list(Message.objects.filter(contact_id=contact.pk).values_list("pk", flat=True))
    return _message_rows_delete(ids, counts) if ids else []


def _subject_keys_destroy(tenant: Tenant, contact_id: uuid.UUID, actor: Actor) -> list[dict[str, Any]]:
    """Schedule every live version of the contact's subject key; destroy each now if its cache window is over."""
    keys = DataKey.objects.filter(owner=str(tenant.pk), purpose=Purpose.SUBJECT, scope=str(contact_id)).exclude(
        state=KeyState.DESTROYED
    )
    described = []
    for key in keys.order_by("version"):
        fingerprint = hashlib.sha256(bytes(key.wrapped_key or b"")).hexdigest()
        scheduled = data_key_schedule_destroy(key=key)
        destroyed = None
        if scheduled.destroy_after is not None and scheduled.destroy_after <= timezone.now():
            destroyed = data_key_destroy_now(key=scheduled, actor_label=actor.label)
        described.append(
            {
                "key_id": key.pk,
                "wrapped_key_sha256": fingerprint,
                "destroy_after": scheduled.destroy_after.isoformat() if scheduled.destroy_after else None,
                "receipt_sha256": hashlib.sha256(_canonical(destroyed.receipt)).hexdigest() if destroyed else None,
            }
        )
    return described


def _receipt(
    contact: Contact, counts: Counter[str], keys: list[dict[str, Any]], now: datetime
) -> dict[str, str | int | bool | None]:
    """Flat (the audit log takes scalars): ids, counts, key ids and fingerprints; never an identifier."""
    return {
        "contact_id": str(contact.pk),
        "platform": contact.platform,
        "erased_at": now.isoformat(),
        **{kind: counts[kind] for kind in sorted(counts)},
        "subject_key_ids": ",".join(str(key["key_id"]) for key in keys),
        "subject_key_fingerprints": ",".join(key["wrapped_key_sha256"] for key in keys),
        "subject_keys_destroy_after": ",".join(str(key["destroy_after"]) for key in keys),
        "subject_key_receipts_sha256": ",".join(key["receipt_sha256"] or "pending" for key in keys),
    }


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def erasure_receipt_matches(*, tombstone: ErasureTombstone, details: dict[str, Any]) -> bool:
    """Whether an audit event's details are the receipt the tombstone names (its SHA-256)."""
    receipt = {key: value for key, value in details.items() if key != "receipt_sha256"}
    return hashlib.sha256(_canonical(receipt)).hexdigest() == tombstone.receipt_sha256
