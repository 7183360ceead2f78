"""Inbound media, planned: the attachments a just-stored message refers to, created pending, their downloads
queued on commit (``media.download_batch`` by name: the task module imports the download, not this one).
The downloads themselves are in ``media_fetch``; reading stored files in ``media_storage``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import Task, current_app
from django.db import DatabaseError, transaction

from core.db import rows_insert
from core.tasks import enqueue_batched_on_commit
from messaging.lifetimes import lifetimes_for, media_expires_at
from messaging.models import MediaAttachment, MediaStatus, Message, Platform, content_is_expired
from messaging.providers.whatsapp import MEDIA_TYPES as WHATSAPP_MEDIA_TYPES

logger = logging.getLogger(__name__)

DOWNLOAD_TASK = "media.download"
DOWNLOAD_BATCH_TASK = "media.download_batch"
MAX_ATTEMPTS = 5
SWEEP_AFTER = timedelta(minutes=30)  # longer than the whole retry schedule (5 attempts, backoff capped at 600 s)
SWEEP_BATCH = 1000

# Messenger / Instagram attachment types whose payload.url is the file itself (not a link, a template…).
MESSAGING_MEDIA_TYPES = frozenset({"image", "audio", "video", "file", "story_mention", "share", "reel", "ig_reel"})


@dataclass(frozen=True)
class MediaSource:
    kind: str
    reference: str  # a WhatsApp media id, or a CDN URL
    mime_type: str
    expected_sha256: str | None


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
    try:
        with transaction.atomic():
            inserted = rows_insert(rows)
    except DatabaseError:
        logger.exception("media attachments not planned", extra={"message_ids": [str(m.pk) for m in messages]})
        return 0
    for row in rows:  # in the messages' order
        if row.pk in inserted:
            enqueue_batched_on_commit(_download_batch_task(), row.pk)
    return len(inserted)


def media_attempts_made(*, attachment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The attempts each still pending attachment has had (the others are left out)."""
    pending = MediaAttachment.objects.filter(pk__in=attachment_ids, status=MediaStatus.PENDING)
    return dict(pending.values_list("pk", "attempts"))


def media_pending_requeue(*, now: datetime) -> list[uuid.UUID]:
    """Publish again the attachments still pending long after every retry would have run: their publish was
    lost (a process died holding the ids). A repeat is harmless: a download is locked and conditional."""
    stale = list(
        MediaAttachment.objects.filter(
            status=MediaStatus.PENDING, created_at__lt=now - SWEEP_AFTER, attempts__lt=MAX_ATTEMPTS
        ).values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for attachment_id in stale:
        enqueue_batched_on_commit(_download_batch_task(), attachment_id)
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


def _download_batch_task() -> Task[Any, Any]:
    """The registered batch download task, found by its name so this module need not import the task module."""
    return current_app.tasks[DOWNLOAD_BATCH_TASK]
