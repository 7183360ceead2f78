"""Stored media: the sealed files of attachments, where they live, reading them back (within retention) and
deleting them with a message a person took back."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from django.core.files.storage import Storage, storages
from django.db import transaction
from django.utils import timezone

from encryption.blobs import blob_open
from encryption.fields import ContentExpiredError
from messaging.models import MediaAttachment, content_is_expired

logger = logging.getLogger(__name__)

STORAGE_ALIAS = "media"
BLOB_SLOT = "stored_bytes"  # not a column: a sealed file cannot stand in for a column value
FALLBACK_MIME_TYPE = "application/octet-stream"


def media_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def media_attachments_discard(*, message_ids: Sequence[uuid.UUID]) -> int:
    """Delete these messages' attachments and their files once the transaction commits (a person took the
    message back). A file whose delete fails stays sealed and unreadable after its day key is destroyed."""
    attachments = list(MediaAttachment.objects.filter(message_id__in=message_ids).only("pk", "storage_name"))
    names = [attachment.storage_name for attachment in attachments if attachment.storage_name]
    MediaAttachment.objects.filter(pk__in=[attachment.pk for attachment in attachments]).delete()
    transaction.on_commit(lambda: _files_delete(names))
    return len(attachments)


def _files_delete(names: Sequence[str]) -> None:
    storage = media_storage()
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("a media file could not be deleted", extra={"storage_name": name})


def media_attachment_is_expired(attachment: MediaAttachment) -> bool:
    """Read-time retention: past its own expiry, or its message's content expired (a legal hold keeps both)."""
    if content_is_expired(attachment.message):
        return True
    expires_at = attachment.expires_at
    return attachment.hold_id is None and expires_at is not None and expires_at <= timezone.now()


def media_attachment_read(*, attachment: MediaAttachment) -> bytes:
    """The plaintext of a stored attachment; ``ContentExpiredError`` past its retention (even before the purge),
    ``DecryptionError`` when its key is gone."""
    if media_attachment_is_expired(attachment):
        raise ContentExpiredError(f"media attachment {attachment.pk} has expired")
    with media_storage().open(attachment.storage_name, "rb") as stored:
        sealed = stored.read()
    return blob_open(
        tenant_id=attachment.tenant_id,
        model=MediaAttachment._meta.label,
        slot=BLOB_SLOT,
        row_id=attachment.pk,
        sealed=sealed,
    )


def media_attachment_get(*, tenant_id: uuid.UUID, message_id: uuid.UUID, attachment_id: uuid.UUID) -> MediaAttachment:
    """Raises MediaAttachment.DoesNotExist for a missing id, another message's and another tenant's alike."""
    attachment: MediaAttachment = MediaAttachment.objects.select_related("message").get(
        pk=attachment_id, message_id=message_id, tenant_id=tenant_id, message__tenant_id=tenant_id
    )
    return attachment
