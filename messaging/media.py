"""Inbound media: planned when a message is stored, fetched by the ``media`` queue, sealed, then stored.

WhatsApp gives a media id: every attempt resolves it again through Graph (the file URL it returns lives
five minutes) and fetches the file with the channel's bearer token. Messenger and Instagram give CDN
URLs, fetched without credentials. Only https URLs on Meta's hosts are fetched (the Graph base URL's own
origin too). The bytes are sealed under the message's day key before they reach the storage API, so
retention shreds them with the message. A failure marks the attachment, never the message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urljoin

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from core.db import rows_insert
from core.http import (
    HttpError,
    HttpInvalidUrlError,
    HttpResponse,
    HttpTimeoutError,
    HttpTooLargeError,
    http_get,
    url_origin,
)
from core.locks import held_lock
from core.tasks import enqueue_batched_on_commit
from encryption.blobs import blob_open, blob_seal
from encryption.errors import DecryptionError
from encryption.fields import ContentExpiredError
from encryption.models import Purpose
from messaging.lifetimes import lifetimes_for, media_expires_at
from messaging.models import (
    Channel,
    MediaAttachment,
    MediaStatus,
    Message,
    Platform,
    content_day_bucket,
    content_is_expired,
)
from messaging.providers.whatsapp import MEDIA_TYPES as WHATSAPP_MEDIA_TYPES

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 15
RETRY_CAP_SECONDS = 600
SWEEP_AFTER = timedelta(minutes=30)  # longer than the whole retry schedule (5 attempts, backoff capped at 600 s)
SWEEP_BATCH = 1000
DOWNLOAD_DEADLINE_SECONDS = 200  # below the Celery soft time limit (270 s)
LOCK_SECONDS = 330  # above the Celery hard time limit (300 s): a lock never outlives a stuck download
MAX_REDIRECTS = 3
GRAPH_ANSWER_MAX_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
STORAGE_ALIAS = "media"
BLOB_SLOT = "stored_bytes"  # not a column: a sealed file cannot stand in for a column value
FALLBACK_MIME_TYPE = "application/octet-stream"
MIME_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+(; ?[\w.+-]+=[\w.+-]+)*")
SHA256_BYTES = 32

# Messenger / Instagram attachment types whose payload.url is the file itself (not a link, a template…).
MESSAGING_MEDIA_TYPES = frozenset({"image", "audio", "video", "file", "story_mention", "share", "reel", "ig_reel"})


class MediaRetryError(Exception):
    """This attempt failed in a way a later one may not (a timeout, a 5xx, a 429): retry it."""


class MediaFetchError(Exception):
    """Why an attempt failed: a short code (no content, it is stored and logged) and whether another
    attempt may help."""

    def __init__(self, code: str, *, is_retryable: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.is_retryable = is_retryable


@dataclass(frozen=True)
class MediaSource:
    kind: str
    reference: str  # a WhatsApp media id, or a CDN URL
    mime_type: str
    expected_sha256: str | None


@dataclass(frozen=True)
class Fetched:
    data: bytes
    mime_type: str


# --- planning --------------------------------------------------------------------------------------


def media_sources(*, platform: str, content: object) -> list[MediaSource]:
    """The media a raw inbound item refers to, in order; anything unexpected is skipped, never raised."""
    if not isinstance(content, dict):
        return []
    if platform == Platform.WHATSAPP:
        return _whatsapp_sources(content)
    return _messaging_sources(content)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _whatsapp_sources(content: dict[str, Any]) -> list[MediaSource]:
    kind = _text(content.get("type"))
    media = content.get(kind) if kind in WHATSAPP_MEDIA_TYPES else None
    if not isinstance(media, dict) or not _text(media.get("id")):
        return []
    sha256 = _text(media.get("sha256")) or None
    return [MediaSource(kind, media["id"], _text(media.get("mime_type")), sha256)]


def _messaging_sources(content: dict[str, Any]) -> list[MediaSource]:
    message = content.get("message")
    if not isinstance(message, dict):
        return []
    sources = []
    attachments = message.get("attachments")
    for attachment in attachments if isinstance(attachments, list) else []:
        kind = _text(attachment.get("type")) if isinstance(attachment, dict) else ""
        payload = attachment.get("payload") if kind in MESSAGING_MEDIA_TYPES else None
        url = _text(payload.get("url")) if isinstance(payload, dict) else ""
        if url:
            sources.append(MediaSource(kind, url, "", None))
    reply_to = message.get("reply_to")
    story = reply_to.get("story") if isinstance(reply_to, dict) else None
    if isinstance(story, dict) and _text(story.get("url")):
        sources.append(MediaSource("story_reply", story["url"], "", None))
    return sources


def media_attachments_plan(*, message: Message) -> int:
    """Create the pending attachments of a just-stored message and queue their downloads on commit."""
    return media_attachments_plan_many(messages=[message])


def media_attachments_plan_many(*, messages: Sequence[Message]) -> int:
    """The same for a batch of just-stored messages (echoes included: the business's own media sent from
    elsewhere has no other copy here, and its CDN URLs expire too). Returns how many were created.

    Runs inside the messages' insert and must never cost them: the content is read tolerantly, and a
    database error rolls back this savepoint only and is logged with ids.
    """
    rows = [
        _attachment_row(message, position, source)
        for message in messages
        if not content_is_expired(message)  # stored late (a replay): its content is not to be served, nor fetched
        for position, source in enumerate(media_sources(platform=message.channel.platform, content=message.content))
    ]
    if not rows:
        return 0
    from messaging.tasks import media_download_batch_task  # the task module imports this one

    try:
        with transaction.atomic():
            inserted = rows_insert(rows)
    except DatabaseError:
        logger.exception("media attachments not planned", extra={"message_ids": [str(m.pk) for m in messages]})
        return 0
    for row in rows:  # in the messages' order
        if row.pk in inserted:
            enqueue_batched_on_commit(media_download_batch_task, row.pk)
    return len(inserted)


def media_attempts_made(*, attachment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The attempts each still pending attachment has had (the others are left out)."""
    pending = MediaAttachment.objects.filter(pk__in=attachment_ids, status=MediaStatus.PENDING)
    return dict(pending.values_list("pk", "attempts"))


def media_pending_requeue(*, now: datetime) -> list[uuid.UUID]:
    """Publish again the attachments still pending long after every retry would have run: their publish was
    lost (a process died holding the ids). A repeat is harmless: a download is locked and conditional."""
    from messaging.tasks import media_download_batch_task  # the task module imports this one

    stale = list(
        MediaAttachment.objects.filter(
            status=MediaStatus.PENDING, created_at__lt=now - SWEEP_AFTER, attempts__lt=MAX_ATTEMPTS
        ).values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for attachment_id in stale:
        enqueue_batched_on_commit(media_download_batch_task, attachment_id)
    return stale


def _attachment_row(message: Message, position: int, source: MediaSource) -> MediaAttachment:
    lifetimes = lifetimes_for(tenant_id=message.tenant_id, channel_id=message.channel_id)
    return MediaAttachment(
        tenant_id=message.tenant_id,
        message=message,
        position=position,
        received_at=message.received_at,
        kind=source.kind[:32],
        mime_type=source.mime_type[:128],
        source_reference=source.reference,
        expected_sha256=source.expected_sha256,
        expires_at=media_expires_at(
            received_at=message.received_at, content_expires=message.content_expires_at, lifetimes=lifetimes
        ),
        content_key_day=message.content_key_day,
    )


# --- downloading -----------------------------------------------------------------------------------


def media_retry_delay(*, retries: int) -> int:
    """Seconds before the next attempt: exponential and capped, with jitter in its upper half (attachments
    of one busy minute should not all come back in the same second, nor sooner than the backoff means)."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS << min(retries, 16))
    return ceiling // 2 + secrets.randbelow(ceiling // 2 + 1)


def media_attachment_download(*, attachment_id: uuid.UUID, is_last_attempt: bool) -> str:
    """One attempt at fetching, verifying, sealing and storing one attachment. Returns the outcome.

    Idempotent: a stored or failed attachment is left alone, a lock keeps two workers from fetching at
    once, and the final write is conditional on the row still being pending. Raises ``MediaRetryError``
    when a later attempt may succeed; on the last attempt that failure is final.
    """
    attachment = _pending(attachment_id)
    if attachment is None:
        return "not_pending"
    with held_lock(f"media:{attachment_id}", ttl_seconds=LOCK_SECONDS) as acquired:
        if not acquired:
            return "busy"  # another worker has it; if that one dies, its own task message is redelivered
        attachment = _pending(attachment_id)
        if attachment is None:
            return "not_pending"
        MediaAttachment.objects.filter(pk=attachment.pk).update(attempts=F("attempts") + 1)
        try:
            return _store(attachment, _fetch(attachment))
        except MediaFetchError as failure:
            return _failure_record(attachment, failure, is_last_attempt=is_last_attempt)


def _pending(attachment_id: uuid.UUID) -> MediaAttachment | None:
    attachment: MediaAttachment | None = (
        MediaAttachment.objects.select_related("message__channel")
        .filter(pk=attachment_id, status=MediaStatus.PENDING)
        .first()
    )
    if attachment is not None and media_attachment_is_expired(attachment):
        return None  # never fetched once expired: the purge removes the row
    return attachment


def _failure_record(attachment: MediaAttachment, failure: MediaFetchError, *, is_last_attempt: bool) -> str:
    pending = MediaAttachment.objects.filter(pk=attachment.pk, status=MediaStatus.PENDING)
    if failure.is_retryable and not is_last_attempt:
        pending.update(last_error_code=failure.code)
        raise MediaRetryError(failure.code)
    pending.update(status=MediaStatus.FAILED, last_error_code=failure.code)
    logger.warning("media download failed", extra={"attachment_id": str(attachment.pk), "code": failure.code})
    return f"failed:{failure.code}"


def _fetch(attachment: MediaAttachment) -> Fetched:
    channel = attachment.message.channel
    if channel.platform == Platform.WHATSAPP:
        return _whatsapp_fetch(attachment, channel)
    response = _guarded_get(attachment.source_reference, headers={}, max_bytes=settings.GATEWAY_MEDIA_MAX_BYTES)
    _require_success(response, stage="download")
    return Fetched(response.body, _mime_type(response.headers.get("content-type", "")))


def _whatsapp_fetch(attachment: MediaAttachment, channel: Channel) -> Fetched:
    """Graph ``GET /<version>/<media id>`` for a fresh URL, then that URL with the same bearer (META-SPEC §10)."""
    try:
        bearer = {"Authorization": f"Bearer {channel.access_token}"}
    except DecryptionError:
        raise MediaFetchError("token_unavailable") from None
    media_id = quote(attachment.source_reference, safe="")
    graph_url = f"{settings.GATEWAY_GRAPH_BASE_URL}/{settings.GATEWAY_GRAPH_API_VERSION}/{media_id}"
    answer = _guarded_get(graph_url, headers=bearer, max_bytes=GRAPH_ANSWER_MAX_BYTES)
    _require_success(answer, stage="graph")
    url, mime_type, graph_sha256, file_size = _graph_media(answer)
    if file_size is not None and file_size > settings.GATEWAY_MEDIA_MAX_BYTES:
        raise MediaFetchError("too_large")
    response = _guarded_get(url, headers=bearer, max_bytes=settings.GATEWAY_MEDIA_MAX_BYTES)
    _require_success(response, stage="download")
    _sha256_verify(attachment, response.body, attachment.expected_sha256 or graph_sha256)
    return Fetched(response.body, _mime_type(mime_type or attachment.mime_type))


def _graph_media(answer: HttpResponse) -> tuple[str, str, str | None, int | None]:
    """(url, mime type, sha256, file size) from Graph's media answer; anything else is a permanent failure."""
    try:
        body = answer.json()
    except ValueError:
        raise MediaFetchError("graph_bad_answer") from None
    if not isinstance(body, dict) or not _text(body.get("url")):
        raise MediaFetchError("graph_bad_answer")
    size = body.get("file_size")
    file_size = int(size) if isinstance(size, int | str) and str(size).isdigit() else None
    return body["url"], _text(body.get("mime_type")), _text(body.get("sha256")) or None, file_size


def _guarded_get(url: str, *, headers: dict[str, str], max_bytes: int) -> HttpResponse:
    """GET through the allow-list, following a few redirects, each checked again; the bearer never
    follows a redirect to another host."""
    for _ in range(MAX_REDIRECTS + 1):
        if not media_url_allowed(url):
            raise MediaFetchError("host_not_allowed")
        response = _get(url, headers=headers, max_bytes=max_bytes)
        location = response.headers.get("location", "")
        if response.status not in REDIRECT_STATUSES or not location:
            return response
        next_url = urljoin(url, location)
        if url_origin(next_url) != url_origin(url):
            headers = {}
        url = next_url
    raise MediaFetchError("too_many_redirects")


def _get(url: str, *, headers: dict[str, str], max_bytes: int) -> HttpResponse:
    try:
        return http_get(url, headers=headers, max_bytes=max_bytes, deadline_seconds=DOWNLOAD_DEADLINE_SECONDS)
    except HttpTooLargeError:
        raise MediaFetchError("too_large") from None
    except HttpInvalidUrlError:
        raise MediaFetchError("invalid_url") from None
    except HttpTimeoutError:
        raise MediaFetchError("timeout", is_retryable=True) from None
    except HttpError as error:
        raise MediaFetchError("connection_failed", is_retryable=error.is_retryable) from None


def media_url_allowed(url: str) -> bool:
    """https on an allowed host suffix (default port only), or exactly the Graph base URL's origin."""
    origin = url_origin(url)
    if origin is None:
        return False
    if origin == url_origin(settings.GATEWAY_GRAPH_BASE_URL):
        return True
    if origin.scheme != "https" or origin.port != 443:  # noqa: PLR2004
        return False
    return any(
        origin.host == suffix or origin.host.endswith(f".{suffix}")
        for suffix in (entry.lower().strip(".") for entry in settings.GATEWAY_MEDIA_ALLOWED_HOSTS)
        if suffix
    )


def _require_success(response: HttpResponse, *, stage: str) -> None:
    if response.is_success:
        return
    is_retryable = response.status in {408, 425, 429} or response.status >= 500  # noqa: PLR2004
    raise MediaFetchError(f"{stage}_http_{response.status}", is_retryable=is_retryable)


def _sha256_verify(attachment: MediaAttachment, data: bytes, expected: str | None) -> None:
    """Meta gives the SHA-256 base64-encoded; hex is accepted too. A mismatch is tried once more (a fresh
    download) before it is final; a hash that is not a SHA-256 at all fails at once."""
    if not expected:
        return
    wanted = _sha256_bytes(expected)
    if wanted is None:
        raise MediaFetchError("sha256_unreadable")
    if hashlib.sha256(data).digest() != wanted:
        raise MediaFetchError("sha256_mismatch", is_retryable=attachment.last_error_code != "sha256_mismatch")


def _sha256_bytes(value: str) -> bytes | None:
    text = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text)
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == SHA256_BYTES else None


def _mime_type(value: str) -> str:
    candidate = value.strip()
    return candidate if MIME_TYPE.fullmatch(candidate) and len(candidate) <= 128 else FALLBACK_MIME_TYPE  # noqa: PLR2004


# --- sealed storage --------------------------------------------------------------------------------


def media_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def _store(attachment: MediaAttachment, fetched: Fetched) -> str:
    """Seal, write under a fresh name, then claim the row; a worker that lost the race removes its file."""
    scope = content_day_bucket(attachment.message)
    sealed = blob_seal(
        tenant_id=attachment.tenant_id,
        purpose=Purpose.CONTENT,
        scope=scope,
        model=MediaAttachment._meta.label,
        slot=BLOB_SLOT,
        row_id=attachment.pk,
        data=fetched.data,
    )
    storage = media_storage()
    try:
        name = storage.save(f"{attachment.tenant_id}/{scope}/{attachment.pk}.sealed", ContentFile(sealed))
    except OSError:  # a full disk, an unreachable bucket: worth another attempt later
        logger.exception("media not written to storage", extra={"attachment_id": str(attachment.pk)})
        raise MediaFetchError("storage_failed", is_retryable=True) from None
    claimed = MediaAttachment.objects.filter(pk=attachment.pk, status=MediaStatus.PENDING).update(
        status=MediaStatus.STORED,
        storage_name=name,
        stored_at=timezone.now(),
        size=len(fetched.data),
        mime_type=fetched.mime_type,
        last_error_code="",
    )
    if not claimed:
        storage.delete(name)
        return "not_pending"
    return "stored"


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
