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
from dataclasses import dataclass
from urllib.parse import urljoin

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import F
from django.utils import timezone

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
from encryption.blobs import blob_seal
from encryption.errors import DecryptionError
from encryption.models import Purpose
from messaging.inbound.media_storage import BLOB_SLOT, FALLBACK_MIME_TYPE, media_attachment_is_expired, media_storage
from messaging.models import Channel, MediaAttachment, MediaStatus, content_day_bucket
from messaging.providers.events import graph_media
from messaging.providers.registry import adapter_for

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 15
RETRY_CAP_SECONDS = 600
DOWNLOAD_DEADLINE_SECONDS = 200  # below the Celery soft time limit (270 s)
LOCK_SECONDS = 330  # above the Celery hard time limit (300 s): a lock never outlives a stuck download
MAX_REDIRECTS = 3
GRAPH_ANSWER_MAX_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MIME_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+(; ?[\w.+-]+=[\w.+-]+)*")
SHA256_BYTES = 32


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
class Fetched:
    data: bytes
    mime_type: str


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
    lookup_path = adapter_for(channel.platform).media_lookup_path(attachment.source_reference)
    if lookup_path is not None:
        return _graph_fetch(attachment, channel, lookup_path)
    response = _guarded_get(attachment.source_reference, headers={}, max_bytes=settings.GATEWAY_MEDIA_MAX_BYTES)
    _require_success(response, stage="download")
    return Fetched(response.body, _mime_type(response.headers.get("content-type", "")))


def _graph_fetch(attachment: MediaAttachment, channel: Channel, lookup_path: str) -> Fetched:
    """Graph ``GET /<version>/<media id>`` for a fresh URL, then that URL with the same bearer (META-SPEC §10)."""
    try:
        bearer = {"Authorization": f"Bearer {channel.access_token}"}
    except DecryptionError:
        raise MediaFetchError("token_unavailable") from None
    graph_url = f"{settings.GATEWAY_GRAPH_BASE_URL}/{settings.GATEWAY_GRAPH_API_VERSION}/{lookup_path}"
    answer = _guarded_get(graph_url, headers=bearer, max_bytes=GRAPH_ANSWER_MAX_BYTES)
    _require_success(answer, stage="graph")
    try:
        media = graph_media(answer.json())
    except ValueError:
        media = None
    if media is None:
        raise MediaFetchError("graph_bad_answer")
    if media.file_size is not None and media.file_size > settings.GATEWAY_MEDIA_MAX_BYTES:
        raise MediaFetchError("too_large")
    response = _guarded_get(media.url, headers=bearer, max_bytes=settings.GATEWAY_MEDIA_MAX_BYTES)
    _require_success(response, stage="download")
    _sha256_verify(attachment, response.body, attachment.expected_sha256 or media.sha256)
    return Fetched(response.body, _mime_type(media.mime_type or attachment.mime_type))


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
