"""What each purge kind selects, and how one short batch of it goes.

A batch is its own transaction with ``lock_timeout`` set: it takes at most ``batch_size`` due rows that no
other transaction holds (``SKIP LOCKED``, so ingest never waits on the purge and the purge never queues behind
ingest), then blanks or deletes them. Every batch selects again what is still due, so a pass that stops
(killed, timed out, a lock it would have waited for) is finished by the next one, and a second pass finds
nothing. Rows that a legal hold covers, or whose content is sealed under a hold's key, are never selected.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import Q, QuerySet

from core.raw_ledgers import raw_ledgers
from messaging.inbound.media_storage import media_storage
from messaging.models import (
    IDEMPOTENCY_WINDOW,
    PARKED_STATUS_WINDOW,
    IdempotencyRecord,
    MediaAttachment,
    Message,
    MessageEdit,
    ParkedReceipt,
    ParkedStatus,
    QuarantinedItem,
)
from policies.retention.selectors import held_message_filter, held_tenant_filter

logger = logging.getLogger(__name__)

# Each batch's WAL reaches the disk with the next webhook commits, in one burst: 500 rows made ack p99 1.4-1.5x
# that of no purge in bench/purge.py, 200 rows 1.2-1.35x, at the same rate (the WAL budget sets the pace).
BATCH_SIZE = 200
LOCK_TIMEOUT = "2s"  # the purge gives up a batch rather than wait longer on anyone's lock
STATEMENT_TIMEOUT = "60s"
LOCK_WAIT_SQLSTATES = frozenset({"55P03", "57014"})  # lock_not_available, query_canceled (statement_timeout)


class PurgeKind(StrEnum):
    CONTENT = "content"  # message content blanked (the row stays)
    MEDIA = "media"  # media files and their rows
    RAW_DELIVERY = "raw_delivery"  # raw webhook bodies (the registered raw ledgers' rows)
    QUARANTINE = "quarantine"  # quarantined webhook items
    IDEMPOTENCY = "idempotency"  # send Idempotency-Key records past their window
    PARKED_STATUS = "parked_status"  # statuses whose message never appeared
    PARKED_RECEIPT = "parked_receipt"  # watermarks kept for messages that might appear after them
    MESSAGE_EDIT = "message_edit"  # earlier versions of edited messages, and edits whose message never appeared
    METADATA = "metadata"  # message rows, with their statuses, attempts and outbox entries
    KEY = "key"  # content and raw day keys scheduled for destruction
    KEY_VETOED = "key_vetoed"  # day keys whose destruction a gate (a legal hold, a pending job) refused


Tally = Counter[tuple[uuid.UUID | None, str]]  # (tenant id, kind) -> rows, files or keys
Step = Callable[[datetime, int], Tally]


# --- what is due (the dry run counts exactly these) ------------------------------------------------------------


def content_due(*, now: datetime) -> QuerySet[Message]:
    """Messages whose content has expired and is not blanked yet, not held."""
    due = Message.objects.filter(content_expires_at__lte=now, content_purged_at__isnull=True, hold_id__isnull=True)
    return due.filter(~held_message_filter(now=now))


def metadata_due(*, now: datetime) -> QuerySet[Message]:
    """Message rows past their metadata lifetime, not held."""
    return Message.objects.filter(metadata_expires_at__lte=now, hold_id__isnull=True).filter(
        ~held_message_filter(now=now)
    )


def media_due(*, now: datetime) -> QuerySet[MediaAttachment]:
    """Attachments past their own lifetime, not held (those of messages whose content or row goes are taken
    in the same batch as their message)."""
    due = MediaAttachment.objects.filter(expires_at__lte=now, hold_id__isnull=True, message__hold_id__isnull=True)
    return due.filter(~held_message_filter(now=now, prefix="message__"))


def media_going(*, now: datetime) -> QuerySet[MediaAttachment]:
    """Every attachment a pass at ``now`` removes: past its own lifetime, or with its message's content or row."""
    own = Q(pk__in=media_due(now=now).values("pk"))
    with_content = Q(hold_id__isnull=True, message__in=content_due(now=now).values("pk"))
    with_row = Q(message__in=metadata_due(now=now).values("pk"))
    return MediaAttachment.objects.filter(own | with_content | with_row)


def raw_deliveries_due(*, now: datetime) -> list[QuerySet[Any]]:
    """Per registered raw ledger: rows past their lifetime that were processed (or failed for good), not under
    a tenant hold."""
    return [
        ledger.settled_rows().filter(expires_at__lte=now).filter(~held_tenant_filter(now=now))
        for ledger in raw_ledgers()
    ]


def quarantine_due(*, now: datetime) -> QuerySet[QuarantinedItem]:
    return QuarantinedItem.objects.filter(expires_at__lte=now).filter(~held_tenant_filter(now=now))


def idempotency_due(*, now: datetime) -> QuerySet[IdempotencyRecord]:
    """Idempotency-Key records of sends older than the window in which a retry gets the first answer again."""
    due = IdempotencyRecord.objects.filter(created_at__lte=now - IDEMPOTENCY_WINDOW)
    return due.filter(~held_tenant_filter(now=now))


def parked_statuses_due(*, now: datetime) -> QuerySet[ParkedStatus]:
    """Statuses that waited their whole window for a message that never appeared (one sent elsewhere)."""
    due = ParkedStatus.objects.filter(received_at__lte=now - PARKED_STATUS_WINDOW)
    return due.filter(~held_tenant_filter(now=now))


def parked_receipts_due(*, now: datetime) -> QuerySet[ParkedReceipt]:
    """Watermarks kept their whole window for messages that might still appear."""
    due = ParkedReceipt.objects.filter(received_at__lte=now - PARKED_STATUS_WINDOW)
    return due.filter(~held_tenant_filter(now=now))


def message_edits_due(*, now: datetime) -> QuerySet[MessageEdit]:
    """Versions past their message content's expiry, and edits that waited their whole window for a message
    that never appeared; not those of held messages."""
    due = MessageEdit.objects.filter(expires_at__lte=now).exclude(message__hold_id__isnull=False)
    return due.filter(~held_tenant_filter(now=now))


# --- one batch of each kind (called inside ``batch_transaction``) ----------------------------------------------


def content_batch(now: datetime, batch_size: int) -> Tally:
    """Blank the content and the provider id (a wamid embeds the customer's number) of due messages; the blind
    index stays, so late statuses still find their message. Their attachments go too."""
    rows = _take(content_due(now=now), order="content_expires_at", batch_size=batch_size, no_key=True)
    if not rows:
        return Tally()
    ids = [pk for pk, _ in rows]
    tally = _attachments_remove(MediaAttachment.objects.filter(message_id__in=ids, hold_id__isnull=True))
    MessageEdit.objects.filter(message_id__in=ids).delete()  # the earlier versions of its text go with it
    Message.objects.filter(pk__in=ids).update(content=None, provider_message_id=None, content_purged_at=now)
    return tally + _tally(rows, PurgeKind.CONTENT)


def media_batch(now: datetime, batch_size: int) -> Tally:
    rows = _take(media_due(now=now), order="expires_at", batch_size=batch_size)
    return _attachments_remove(MediaAttachment.objects.filter(pk__in=[pk for pk, _ in rows]))


def metadata_batch(now: datetime, batch_size: int) -> Tally:
    """Delete due message rows; their status events, send attempts and outbox entries go with them (cascade),
    their attachments' files first."""
    rows = _take(metadata_due(now=now), order="metadata_expires_at", batch_size=batch_size)
    if not rows:
        return Tally()
    ids = [pk for pk, _ in rows]
    tally = _attachments_remove(MediaAttachment.objects.filter(message_id__in=ids))
    Message.objects.filter(pk__in=ids).delete()
    return tally + _tally(rows, PurgeKind.METADATA)


def raw_delivery_batch(now: datetime, batch_size: int) -> Tally:
    tally = Tally()
    for due in raw_deliveries_due(now=now):
        tally.update(_rows_delete(due, "expires_at", batch_size, PurgeKind.RAW_DELIVERY))
    return tally


def quarantine_batch(now: datetime, batch_size: int) -> Tally:
    return _rows_delete(quarantine_due(now=now), "expires_at", batch_size, PurgeKind.QUARANTINE)


def idempotency_batch(now: datetime, batch_size: int) -> Tally:
    return _rows_delete(idempotency_due(now=now), "created_at", batch_size, PurgeKind.IDEMPOTENCY)


def parked_status_batch(now: datetime, batch_size: int) -> Tally:
    return _rows_delete(parked_statuses_due(now=now), "received_at", batch_size, PurgeKind.PARKED_STATUS)


def parked_receipt_batch(now: datetime, batch_size: int) -> Tally:
    return _rows_delete(parked_receipts_due(now=now), "received_at", batch_size, PurgeKind.PARKED_RECEIPT)


def message_edit_batch(now: datetime, batch_size: int) -> Tally:
    return _rows_delete(message_edits_due(now=now), "expires_at", batch_size, PurgeKind.MESSAGE_EDIT)


STEPS: tuple[tuple[PurgeKind, Step], ...] = (
    (PurgeKind.CONTENT, content_batch),
    (PurgeKind.MEDIA, media_batch),
    (PurgeKind.METADATA, metadata_batch),
    (PurgeKind.RAW_DELIVERY, raw_delivery_batch),
    (PurgeKind.QUARANTINE, quarantine_batch),
    (PurgeKind.IDEMPOTENCY, idempotency_batch),
    (PurgeKind.PARKED_STATUS, parked_status_batch),
    (PurgeKind.PARKED_RECEIPT, parked_receipt_batch),
    (PurgeKind.MESSAGE_EDIT, message_edit_batch),
)


def timeouts_set() -> None:
    """Inside the batch's transaction: give up rather than wait on a lock, and bound every statement."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [STATEMENT_TIMEOUT])


def wal_position() -> str | None:
    """Where the server inserts WAL now (PostgreSQL), or None where there is no WAL to pace on."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
        return str(cursor.fetchone()[0])


def wal_written_since(position: str) -> int:
    """Bytes of WAL the whole server has inserted since ``position`` (from ``wal_position``)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)", [position])
        return int(cursor.fetchone()[0])


def is_lock_wait(error: OperationalError) -> bool:
    """The batch gave up on a lock (or ran too long): worth another try on the next pass."""
    if getattr(error.__cause__, "sqlstate", None) in LOCK_WAIT_SQLSTATES:
        return True
    return connection.vendor == "sqlite" and "locked" in str(error)


def _take(due: QuerySet[Any], *, order: str, batch_size: int, no_key: bool = False) -> list[tuple[Any, Any]]:
    """Lock up to ``batch_size`` due rows, oldest expiry first (the expiry index), skipping rows others hold.
    ``no_key``: the row stays (content is blanked), so inserts that reference it (statuses) are not blocked."""
    locked = due.order_by(order).select_for_update(skip_locked=True, no_key=no_key, of=("self",))
    return list(locked.values_list("pk", "tenant_id")[:batch_size])


def _rows_delete(due: QuerySet[Any], order: str, batch_size: int, kind: PurgeKind) -> Tally:
    """Delete one batch of due rows that have nothing to take along (no files, no cascade worth a count)."""
    rows = _take(due, order=order, batch_size=batch_size)
    due.model._default_manager.filter(pk__in=[pk for pk, _ in rows]).delete()
    return _tally(rows, kind)


def _attachments_remove(attachments: QuerySet[MediaAttachment]) -> Tally:
    """Delete the rows now and their files once the batch commits (a file whose delete fails stays sealed
    under its day key, which is destroyed on schedule)."""
    rows = list(attachments.select_for_update(of=("self",)).values_list("pk", "tenant_id", "storage_name"))
    if not rows:
        return Tally()
    MediaAttachment.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
    names = [name for _, _, name in rows if name]
    transaction.on_commit(lambda: files_delete(names))
    return _tally([(pk, tenant_id) for pk, tenant_id, _ in rows], PurgeKind.MEDIA)


def files_delete(names: Sequence[str]) -> None:
    storage = media_storage()
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("a purged media file could not be deleted", extra={"storage_name": name})


def _tally(rows: Sequence[tuple[Any, Any]], kind: PurgeKind) -> Tally:
    return Tally((_as_uuid(tenant_id), kind.value) for _, tenant_id in rows)


def _as_uuid(value: Any) -> uuid.UUID | None:
    return value if value is None or isinstance(value, uuid.UUID) else uuid.UUID(str(value))
