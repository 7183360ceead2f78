"""Subject export: everything the gateway holds about one contact, as an encrypted archive behind an expiring,
single-tenant, audited download link.

The archive (built by ``export_archive``) is a zip: ``contact.json`` (identifiers and profile),
``conversations.json``, ``messages.json`` (every message with its status history and its attachments) and
``media/<attachment id><ext>`` (the files, opened). Content past its retention (read-time rules: expired and not
held, or purged) is listed as expired and never opened. The zip is sealed with ``encryption.blobs`` under the
tenant's content key of the day after the link expires, so the key backstop shreds a copy that outlived its file;
the file itself is deleted when the link expires (``subject_exports_expire``, periodic) or when the contact is
erased.

The link carries a random token of which only the SHA-256 is stored: a link is shown once, when it is issued.
Each read of a ready export's status issues a fresh link, and the previous one stops working.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import tempfile
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Tenant
from audit.models import AuditAction
from audit.services import audit_record
from core.tasks import Counts, enqueue_by_name_on_commit
from encryption.blobs import blob_open, blob_seal
from encryption.errors import DecryptionError
from encryption.models import Purpose
from messaging.inbound.media_storage import media_storage
from messaging.models import Contact
from policies.models import ExportStatus, SubjectExport
from policies.retention.purge.kinds import files_delete
from policies.subjects.export_archive import export_archive

logger = logging.getLogger(__name__)

EXPORT_LIFETIME = timedelta(days=7)
ARCHIVE_SLOT = "archive"  # not a column: the sealed archive cannot stand in for a column value
TOKEN_BYTES = 32
EXPIRE_BATCH = 200
BUILD_TASK = "maintenance.subject_export_build"
# An export still pending this long after it was asked for lost its publish (a broker outage): it is published again.
REPUBLISH_AFTER = timedelta(minutes=10)
# Builds of one export before it is given up: a failure that repeats (a bug, an archive that kills its worker) ends
# the export failed, where a passing one (the database away, a worker restarted) is tried again.
MAX_BUILD_ATTEMPTS = 3


class SubjectExportUnavailableError(Exception):
    """Why an export cannot be downloaded now: ``code`` is stable (not_ready, failed, expired, invalid_token,
    unavailable), the message is for people."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class SubjectExportRunningError(Exception):
    """The contact already has an export queued or being built (one at a time): ``export_id`` is that one's."""

    def __init__(self, export_id: uuid.UUID | None) -> None:
        super().__init__("an export of this contact is already queued or being built")
        self.export_id = export_id


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _actor_details(actor: Actor) -> dict[str, Any]:
    return {"actor_id": actor.user_id, "actor_label": actor.label, "ip": actor.ip}


def _audit(action: str, export: SubjectExport, actor: Actor, **details: str | int | bool | None) -> None:
    audit_record(
        action=action,
        tenant_id=export.tenant_id,
        target_type="subject_export",
        target_id=str(export.pk),
        details={"contact_id": str(export.contact_id), **details},
        **_actor_details(actor),
    )


# --- requesting and building --------------------------------------------------------------------------------


def subject_export_request(
    *, tenant: Tenant, contact: Contact, actor: Actor, now: datetime | None = None, enqueue: bool = True
) -> SubjectExport:
    """Ask for an export of ``contact`` (of ``tenant``); the archive is built by a ``maintenance`` task (or, with
    ``enqueue=False``, by the caller: the operator command builds it at once). Raises SubjectExportRunningError
    while another export of the contact is pending (the database allows one)."""
    if contact.tenant_id != tenant.pk:
        raise Contact.DoesNotExist("no such contact in this tenant")
    now = now or timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():  # the database refuses a second pending export of the contact
                export = SubjectExport.objects.create(
                    tenant=tenant,
                    contact_id=contact.pk,
                    requested_by=actor.label[:200],
                    expires_at=now + EXPORT_LIFETIME,
                )
        except IntegrityError:
            raise _already_running(tenant, contact) from None
        _audit(AuditAction.SUBJECT_EXPORT_REQUESTED, export, actor, expires_at=export.expires_at.isoformat())
        if enqueue:
            enqueue_by_name_on_commit(BUILD_TASK, export.pk)
    return export


def _already_running(tenant: Tenant, contact: Contact) -> SubjectExportRunningError:
    running = SubjectExport.objects.filter(tenant=tenant, contact_id=contact.pk, status=ExportStatus.PENDING).first()
    if running is None:  # pragma: no cover - it finished between the refusal and this read: the caller retries
        return SubjectExportRunningError(None)
    return SubjectExportRunningError(running.pk)


def subject_exports_republish(*, now: datetime | None = None) -> Counts:
    """Publish again the build of exports still pending ``REPUBLISH_AFTER`` after they were asked for (periodic):
    a publish lost to a broker outage. The pending row is the outbox; building is idempotent."""
    now = now or timezone.now()
    stale = SubjectExport.objects.filter(status=ExportStatus.PENDING, created_at__lte=now - REPUBLISH_AFTER)
    export_ids = list(stale.order_by("created_at").values_list("pk", flat=True)[:EXPIRE_BATCH])
    for export_id in export_ids:
        enqueue_by_name_on_commit(BUILD_TASK, export_id)
    return {"republished": len(export_ids)}


def subject_export_build(*, export_id: uuid.UUID, now: datetime | None = None, is_retry: bool = False) -> str:
    """Build, seal and store a pending export's archive. Idempotent: anything but a pending export is left alone.

    Each call is one attempt, counted on the row (``is_retry``: Celery's retry of a database error belongs to the
    attempt it retries). An unexpected error propagates: the task fails, the export stays pending and the republish
    job publishes it again; a worker killed mid-build has its task delivered again. Either way a new attempt, and
    once MAX_BUILD_ATTEMPTS were used up the export ends failed (``attempts_exhausted``) instead of being tried
    forever."""
    now = now or timezone.now()
    export = _attempt_start(export_id, is_retry=is_retry)
    if export is None:
        return "not_pending"
    if export.attempts > MAX_BUILD_ATTEMPTS:
        return _failed(export, "attempts_exhausted")
    contact = Contact.objects.filter(tenant_id=export.tenant_id, pk=export.contact_id).first()
    if contact is None:
        return _failed(export, "contact_not_found")
    with tempfile.TemporaryFile() as archive:  # on disk: a big export is never held in memory as a zip
        counts = export_archive(contact, now=now, out=archive)
        size = archive.tell()
        sealed = _archive_seal(export, archive)
    try:
        name = media_storage().save(f"exports/{export.tenant_id}/{export.pk}.sealed", ContentFile(sealed))
    except OSError:
        logger.exception("an export archive was not written", extra={"export_id": str(export.pk)})
        return _failed(export, "storage_failed")
    claimed = SubjectExport.objects.filter(pk=export.pk, status=ExportStatus.PENDING).update(
        status=ExportStatus.READY, storage_name=name, size=size, completed_at=timezone.now()
    )
    if not claimed:  # erased or expired meanwhile
        files_delete([name])
        return "not_pending"
    _audit(AuditAction.SUBJECT_EXPORT_READY, export, Actor(label="system"), **counts)
    return "ready"


def _attempt_start(export_id: uuid.UUID, *, is_retry: bool) -> SubjectExport | None:
    """The pending export with one more attempt counted (none for a retry), or None when it is not pending."""
    pending = SubjectExport.objects.filter(pk=export_id, status=ExportStatus.PENDING)
    if not is_retry and not pending.update(attempts=F("attempts") + 1, updated_at=timezone.now()):
        return None
    export: SubjectExport | None = pending.first()
    return export


def _archive_seal(export: SubjectExport, archive: IO[bytes]) -> bytes:
    """The zip in ``archive`` sealed as one envelope (the one copy of the plaintext in memory is dropped on return)."""
    archive.seek(0)
    return blob_seal(
        tenant_id=export.tenant_id,
        purpose=Purpose.CONTENT,
        scope=_archive_scope(export),
        model=SubjectExport._meta.label,
        slot=ARCHIVE_SLOT,
        row_id=export.pk,
        data=archive.read(),
    )


def _failed(export: SubjectExport, code: str) -> str:
    if SubjectExport.objects.filter(pk=export.pk, status=ExportStatus.PENDING).update(
        status=ExportStatus.FAILED, error_code=code, completed_at=timezone.now()
    ):
        _audit(AuditAction.SUBJECT_EXPORT_FAILED, export, Actor(label="system"), error_code=code)
    return "failed"


def _archive_scope(export: SubjectExport) -> str:
    """The content day bucket of the day after the link expires: that day's key is destroyed once it passed."""
    return (export.expires_at.astimezone(UTC).date() + timedelta(days=1)).isoformat()


# --- links and downloads -----------------------------------------------------------------------------------


def subject_export_get(*, tenant: Tenant, export_id: uuid.UUID) -> SubjectExport:
    """Raises SubjectExport.DoesNotExist for a missing id and for another tenant's id alike."""
    export: SubjectExport = SubjectExport.objects.get(tenant=tenant, pk=export_id)
    return export


def _require_ready(export: SubjectExport, now: datetime) -> None:
    if export.status == ExportStatus.EXPIRED or export.expires_at <= now:
        raise SubjectExportUnavailableError("expired", "This export has expired and its archive is deleted.")
    if export.status == ExportStatus.FAILED:
        raise SubjectExportUnavailableError("failed", f"This export failed ({export.error_code}); request a new one.")
    if export.status != ExportStatus.READY:
        raise SubjectExportUnavailableError("not_ready", "The archive is still being built; try again shortly.")


def subject_export_link_issue(*, export: SubjectExport, actor: Actor, now: datetime | None = None) -> str:
    """A fresh download token for a ready export (the previous one stops working); audited."""
    _require_ready(export, now or timezone.now())
    token = secrets.token_urlsafe(TOKEN_BYTES)
    SubjectExport.objects.filter(pk=export.pk).update(download_token_hash=_token_hash(token))
    export.download_token_hash = _token_hash(token)
    _audit(AuditAction.SUBJECT_EXPORT_LINK_ISSUED, export, actor)
    return token


def subject_export_download(*, export: SubjectExport, token: str, actor: Actor, now: datetime | None = None) -> bytes:
    """The archive (a zip) behind a link; audited."""
    _require_ready(export, now or timezone.now())
    stored = export.download_token_hash
    if not stored or not hmac.compare_digest(stored, _token_hash(token)):
        raise SubjectExportUnavailableError(
            "invalid_token", "This download link is not valid, or a newer one replaced it: read the export for a link."
        )
    return _archive_open(export, actor, via="link")


def subject_export_open(*, export: SubjectExport, actor: Actor, now: datetime | None = None) -> bytes:
    """The archive for staff in the admin (after a fresh step-up there); audited."""
    _require_ready(export, now or timezone.now())
    return _archive_open(export, actor, via="admin")


def _archive_open(export: SubjectExport, actor: Actor, *, via: str) -> bytes:
    try:
        with media_storage().open(export.storage_name, "rb") as stored:
            sealed = stored.read()
        archive = blob_open(
            tenant_id=export.tenant_id,
            model=SubjectExport._meta.label,
            slot=ARCHIVE_SLOT,
            row_id=export.pk,
            sealed=sealed,
        )
    except (DecryptionError, OSError):
        logger.warning("an export archive did not open", extra={"export_id": str(export.pk)})
        raise SubjectExportUnavailableError("unavailable", "The archive can no longer be opened.") from None
    SubjectExport.objects.filter(pk=export.pk).update(downloaded_at=timezone.now())
    _audit(AuditAction.SUBJECT_EXPORT_DOWNLOADED, export, actor, via=via, size=len(archive))
    return archive


# --- expiry and erasure ------------------------------------------------------------------------------------


def subject_exports_expire(*, now: datetime | None = None) -> Counts:
    """Delete the archives of exports whose link has expired (periodic); one audit event per tenant."""
    now = now or timezone.now()
    due = SubjectExport.objects.filter(expires_at__lte=now).exclude(status=ExportStatus.EXPIRED)
    per_tenant: Counter[uuid.UUID] = Counter()
    while batch := list(due.order_by("expires_at")[:EXPIRE_BATCH]):
        for tenant_id, count in _discard(batch).items():
            per_tenant[tenant_id] += count
    for tenant_id, count in per_tenant.items():
        audit_record(
            action=AuditAction.SUBJECT_EXPORTS_EXPIRED,
            tenant_id=tenant_id,
            actor_label="system",
            target_type="subject_export",
            details={"exports": count},
        )
    return {"expired": sum(per_tenant.values())}


def subject_exports_discard(*, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> int:
    """Delete every archive of one contact's exports now (erasure); returns how many exports there were."""
    exports = list(SubjectExport.objects.filter(tenant_id=tenant_id, contact_id=contact_id))
    _discard(exports)
    return len(exports)


def _discard(exports: list[SubjectExport]) -> Counter[uuid.UUID]:
    """Files first, then the rows (expired, no token): a file whose delete failed is logged and stays sealed under
    its day key, which is destroyed on schedule."""
    files_delete([export.storage_name for export in exports if export.storage_name])
    SubjectExport.objects.filter(pk__in=[export.pk for export in exports]).update(
        status=ExportStatus.EXPIRED, storage_name="", download_token_hash=""
    )
    return Counter(export.tenant_id for export in exports)
