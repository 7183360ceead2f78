"""Re-keying what a legal hold covers: into the hold's key while it is in force, back to the day keys (or another
hold in force) once it is released or ended; then the released hold's keys are scheduled for destruction and the
purge is asked to run. Short batches, each its own transaction, resumable (``policies.subjects.holds`` explains)."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.actors import Actor
from audit.models import AuditAction
from core.locks import held_lock
from core.tasks import Counts, enqueue_by_name_on_commit
from encryption.blobs import blob_open, blob_seal
from encryption.errors import DecryptionError, KeyOperationError
from encryption.fields import EncryptedField, Sealed
from encryption.models import DataKey, KeyState, Purpose
from encryption.services import data_key_schedule_destroy, keyed_columns
from messaging.inbound.media_storage import BLOB_SLOT, media_storage
from messaging.models import (
    HOLD_SCOPE_PREFIX,
    MediaAttachment,
    MediaStatus,
    Message,
    content_day_bucket,
    hold_scope,
)
from policies.models import LegalHold
from policies.retention.purge.kinds import files_delete, timeouts_set
from policies.retention.selectors import active_holds
from policies.subjects.holds import (
    ENDED_ACTOR,
    LegalHoldError,
    hold_audit,
    hold_covers,
    hold_scope_filter,
    hold_scope_label,
    legal_hold_release,
)
from policies.task_names import PURGE_TASK

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
RUN_SECONDS = 120.0  # well below the task time limit: the periodic job goes on where a run stopped
LOCK_SECONDS = 300
LATE_WINDOW = timedelta(days=2)  # a tenant-wide hold looks this far back every minute for content that came late
FULL_SWEEP_EVERY = timedelta(hours=1)  # ...and through all of the tenant's messages this often
MESSAGE_FIELDS = ("content", "provider_message_id")
ATTACHMENT_FIELDS = ("source_reference", "expected_sha256")


def legal_hold_rekey(*, hold_id: uuid.UUID, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> Counts:
    """Bring one hold's content under the right key (the task run when a hold is placed or released)."""
    now = now or timezone.now()
    with held_lock(f"legal-hold:{hold_id}", ttl_seconds=LOCK_SECONDS) as acquired:
        hold = LegalHold.objects.filter(pk=hold_id).first()
        if not acquired or hold is None:
            return {"skipped": 1}
        return dict(+_rekey(hold, now=now, deadline=time.monotonic() + RUN_SECONDS, batch_size=batch_size))


def legal_holds_maintain(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> Counts:
    """The periodic job: release holds whose end has passed, re-key what is pending or came late under a hold
    in force, and schedule the destruction of released holds' keys that nothing is sealed under any more."""
    now = now or timezone.now()
    counts: Counter[str] = Counter()
    for hold in LegalHold.objects.filter(released_at__isnull=True, ends_at__lte=now):
        try:
            legal_hold_release(hold=hold, actor=ENDED_ACTOR, now=now)
        except LegalHoldError:  # released by someone else meanwhile
            continue
        counts["ended"] += 1
    deadline = time.monotonic() + RUN_SECONDS
    for hold in LegalHold.objects.filter(active_holds(now=now) | Q(rekey_pending=True)).order_by("created_at"):
        with held_lock(f"legal-hold:{hold.pk}", ttl_seconds=LOCK_SECONDS) as acquired:
            if acquired:
                counts.update(_rekey(hold, now=now, deadline=deadline, batch_size=batch_size))
    counts["keys_scheduled"] += _released_hold_keys_retire()
    return dict(+counts)  # what happened, without the zeros


def _rekey(hold: LegalHold, *, now: datetime, deadline: float, batch_size: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    in_force = hold.released_at is None and (hold.ends_at is None or hold.ends_at > now)
    if in_force:
        full = hold.rekey_pending or hold_scope_label(hold) != "tenant" or hold.updated_at <= now - FULL_SWEEP_EVERY
        since = None if full else now - LATE_WINDOW
        done = _messages_into_hold(hold, since=since, counts=counts, deadline=deadline, batch_size=batch_size)
    else:
        done = _messages_out_of_hold(hold, now=now, counts=counts, deadline=deadline, batch_size=batch_size)
        since = None
    done = done and _attachments_follow(hold, since=since, in_force=in_force, counts=counts, deadline=deadline)
    if done and in_force and since is None and hold_scope_label(hold) == "tenant":
        LegalHold.objects.filter(pk=hold.pk).update(updated_at=now)  # when the last full sweep ran
    if done and hold.rekey_pending:
        _rekey_finished(hold, in_force=in_force, counts=counts)
    return counts


def _rekey_finished(hold: LegalHold, *, in_force: bool, counts: Counter[str]) -> None:
    if not LegalHold.objects.filter(pk=hold.pk, rekey_pending=True).update(rekey_pending=False):
        return
    hold.rekey_pending = False
    details = {name: counts[name] for name in ("messages", "attachments", "files", "unreadable")}
    hold_audit(
        AuditAction.LEGAL_HOLD_REKEYED, hold, Actor(label="system"), direction="in" if in_force else "out", **details
    )
    if not in_force:
        counts["keys_scheduled"] += _hold_keys_retire(hold)
        _purge_trigger()


def _messages_into_hold(
    hold: LegalHold, *, since: datetime | None, counts: Counter[str], deadline: float, batch_size: int
) -> bool:
    pending = Message.objects.filter(hold_scope_filter(hold), hold_id__isnull=True)
    if since is not None:
        pending = pending.filter(provider_timestamp__gte=since)  # the (tenant, provider_timestamp) index
    while time.monotonic() < deadline:
        ids = list(pending.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            return True
        with transaction.atomic():
            timeouts_set()
            for message in Message.objects.select_for_update().filter(pk__in=ids, hold_id__isnull=True):
                _message_reseal(message, hold_id=hold.pk, counts=counts)
    return False


def _messages_out_of_hold(
    hold: LegalHold, *, now: datetime, counts: Counter[str], deadline: float, batch_size: int
) -> bool:
    others = list(
        LegalHold.objects.filter(active_holds(now=now), tenant_id=hold.tenant_id)
        .exclude(pk=hold.pk)
        .order_by("created_at")
    )
    held = Message.objects.filter(hold_id=hold.pk)
    while time.monotonic() < deadline:
        ids = list(held.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            return True
        with transaction.atomic():
            timeouts_set()
            for message in Message.objects.select_for_update().filter(pk__in=ids, hold_id=hold.pk):
                target = next((other.pk for other in others if hold_covers(other, message)), None)
                _message_reseal(message, hold_id=target, counts=counts)
    return False


def _message_reseal(message: Message, *, hold_id: uuid.UUID | None, counts: Counter[str]) -> None:
    counts["unreadable"] += _reseal(message, MESSAGE_FIELDS, hold_id=hold_id)
    message.save(update_fields=[*MESSAGE_FIELDS, "hold_id"])
    counts["messages"] += 1


def _reseal(instance: Message | MediaAttachment, names: Sequence[str], *, hold_id: uuid.UUID | None) -> int:
    """Open each value with the key it names and leave its plaintext to be sealed again on ``save()``, under the
    key of ``hold_id`` (its day's when None). Opened below the read-time expiry check: the value is moved, never
    served. A value whose key is gone stays as it is (nothing is left to protect); returns how many did."""
    unreadable = 0
    for name in names:
        field = instance._meta.get_field(name)
        if not isinstance(field, EncryptedField):
            continue
        stored = instance.__dict__.get(field.attname)
        if not isinstance(stored, Sealed):
            continue
        try:
            field.reseal_on_save(instance, field.decode(field.open_bytes(instance, stored)))
        except DecryptionError:
            unreadable += 1
    instance.hold_id = hold_id
    return unreadable


def _attachments_follow(
    hold: LegalHold, *, since: datetime | None, in_force: bool, counts: Counter[str], deadline: float
) -> bool:
    """Attachments follow their message's hold, and their files the attachment's key scope."""
    prefix = f"{hold.tenant_id}/{hold_scope(hold.pk)}/"
    into = Q(message__hold_id=hold.pk) & ~Q(hold_id=hold.pk)
    misfiled = Q(hold_id=hold.pk, status=MediaStatus.STORED) & ~Q(storage_name__startswith=prefix)
    stale = into | (Q(hold_id=hold.pk) & ~Q(message__hold_id=hold.pk)) | misfiled
    if not in_force:  # a file stored under the hold's key after its message left it (a download racing the release)
        stale |= Q(tenant_id=hold.tenant_id, status=MediaStatus.STORED, storage_name__startswith=prefix) & ~Q(
            hold_id=hold.pk
        )
    candidates = MediaAttachment.objects.filter(stale)
    if since is not None:
        candidates = candidates.filter(received_at__gte=since)
    last: uuid.UUID | None = None
    while time.monotonic() < deadline:
        page = candidates.filter(pk__gt=last) if last is not None else candidates
        ids = list(page.order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            return True
        for attachment_id in ids:
            _attachment_follow(attachment_id, counts)
        last = ids[-1]
    return False


def _attachment_follow(attachment_id: uuid.UUID, counts: Counter[str]) -> None:
    """One attachment, in its own transaction: its values under its message's hold (or day), its file too."""
    moved: list[str] = []  # [new name, old name] once the file was written again
    try:
        with transaction.atomic():
            timeouts_set()
            attachment = (
                MediaAttachment.objects.select_for_update(of=("self",))
                .select_related("message")
                .filter(pk=attachment_id)
                .first()
            )
            if attachment is None:
                return
            changed: list[str] = []
            if attachment.hold_id != attachment.message.hold_id:
                counts["unreadable"] += _reseal(attachment, ATTACHMENT_FIELDS, hold_id=attachment.message.hold_id)
                changed += [*ATTACHMENT_FIELDS, "hold_id"]
                counts["attachments"] += 1
            changed += _file_follow(attachment, moved, counts)
            if changed:
                attachment.save(update_fields=changed)
            if moved:
                old_name = moved[1]
                transaction.on_commit(lambda: files_delete([old_name]))
    except BaseException:
        if moved:
            files_delete([moved[0]])
        raise


def _file_follow(attachment: MediaAttachment, moved: list[str], counts: Counter[str]) -> list[str]:
    """Write the file again under the attachment's key scope when it lies elsewhere; the changed columns."""
    scope = content_day_bucket(attachment.message)  # what the media download seals a file under
    name = attachment.storage_name
    if attachment.status != MediaStatus.STORED or not name or name.startswith(f"{attachment.tenant_id}/{scope}/"):
        return []
    storage = media_storage()
    try:
        with storage.open(name, "rb") as stored:
            sealed = stored.read()
    except OSError:
        logger.warning("a held media file is missing", extra={"attachment_id": str(attachment.pk)})
        attachment.status, attachment.storage_name, attachment.last_error_code = MediaStatus.FAILED, "", "file_missing"
        counts["files_missing"] += 1
        return ["status", "storage_name", "last_error_code"]
    label = MediaAttachment._meta.label
    try:
        data = blob_open(
            tenant_id=attachment.tenant_id, model=label, slot=BLOB_SLOT, row_id=attachment.pk, sealed=sealed
        )
        sealed = blob_seal(
            tenant_id=attachment.tenant_id,
            purpose=Purpose.CONTENT,
            scope=scope,
            model=label,
            slot=BLOB_SLOT,
            row_id=attachment.pk,
            data=data,
        )
    except DecryptionError:
        counts["unreadable"] += 1  # its key is gone: only its place changes
    moved += [storage.save(f"{attachment.tenant_id}/{scope}/{attachment.pk}.sealed", ContentFile(sealed)), name]
    attachment.storage_name = moved[0]
    counts["files"] += 1
    return ["storage_name"]


# --- hold keys ---------------------------------------------------------------------------------------------


def _hold_keys_retire(hold: LegalHold) -> int:
    """Schedule the destruction of a released hold's keys once nothing is sealed under them."""
    keys = DataKey.objects.filter(
        owner=str(hold.tenant_id),
        purpose=Purpose.CONTENT,
        scope=hold_scope(hold.pk),
        state__in=(KeyState.ACTIVE, KeyState.DECRYPT_ONLY),
    )
    scheduled = 0
    for key in keys:
        if _hold_key_in_use(key, hold):
            continue
        try:
            data_key_schedule_destroy(key=key)
        except KeyOperationError:
            logger.warning("a released hold's key was not scheduled for destruction", extra={"key_id": key.pk})
            continue
        scheduled += 1
    return scheduled


def _hold_key_in_use(key: DataKey, hold: LegalHold) -> bool:
    """Rows still marked with the hold, files in its folder, or any content value naming its key."""
    prefix = f"{hold.tenant_id}/{hold_scope(hold.pk)}/"
    if Message.objects.filter(hold_id=hold.pk).exists() or MediaAttachment.objects.filter(hold_id=hold.pk).exists():
        return True
    if MediaAttachment.objects.filter(tenant_id=hold.tenant_id, storage_name__startswith=prefix).exists():
        return True
    columns = [
        column
        for column in keyed_columns()
        if isinstance(column.field, EncryptedField) and column.field.purpose == Purpose.CONTENT
    ]
    return any(column.rows_under([key.pk]).exists() for column in columns)


def _released_hold_keys_retire() -> int:
    """Released holds whose re-keying has finished but whose keys are still live (a veto, a crash): try again."""
    live = DataKey.objects.filter(
        purpose=Purpose.CONTENT, scope__startswith=HOLD_SCOPE_PREFIX, state__in=(KeyState.ACTIVE, KeyState.DECRYPT_ONLY)
    )
    hold_ids = {hold_id for scope in live.values_list("scope", flat=True) if (hold_id := _hold_id_of(scope))}
    done = LegalHold.objects.filter(pk__in=hold_ids, released_at__isnull=False, rekey_pending=False)
    return sum(_hold_keys_retire(hold) for hold in done)


def _hold_id_of(scope: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(scope.removeprefix(HOLD_SCOPE_PREFIX))
    except ValueError:
        return None


def _purge_trigger() -> None:
    """Content that expired while held goes now rather than at the next beat."""
    enqueue_by_name_on_commit(PURGE_TASK)
