"""Inbound media, planned: the attachments a just-stored message refers to, created pending, their downloads
queued on commit (``media.download_batch`` by name: the task module imports the download, not this one).
The downloads themselves are in ``media_fetch``; reading stored files in ``media_storage``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import DatabaseError, transaction

from core.db import rows_insert
from core.tasks import enqueue_batched_on_commit, registered_task
from messaging.lifetimes import lifetimes_for, media_expires_at
from messaging.models import MediaAttachment, MediaStatus, Message, content_is_expired
from messaging.providers.events import MediaSource
from messaging.providers.registry import stored_media_sources
from messaging.task_names import MEDIA_DOWNLOAD_BATCH_TASK

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
SWEEP_AFTER = timedelta(minutes=30)  # longer than the whole retry schedule (5 attempts, backoff capped at 600 s)
SWEEP_BATCH = 1000


def media_attachments_plan(*, message: Message) -> int:
    """Plan the attachments of a message already stored (again: planned once, unique on message and
    position), its files read from the stored content by the parser its webhook went through."""
    sources = stored_media_sources(platform=message.channel.platform, content=message.content)
    return media_attachments_plan_many(planned=[(message, sources)])


def media_attachments_plan_many(*, planned: Sequence[tuple[Message, Sequence[MediaSource]]]) -> int:
    """Create the pending attachments of just-stored messages, each with the files its event named, and
    queue their downloads on commit (echoes included: the business's own media sent from elsewhere has no
    other copy here, and its CDN URLs expire too). Returns how many were created.

    Runs inside the messages' insert and must never cost them: a database error rolls back this savepoint
    only and is logged with ids.
    """
    rows = [
        _attachment_row(message, position, source)
        for message, sources in planned
        if not content_is_expired(message)  # stored late (a replay): its content is not to be served, nor fetched
        for position, source in enumerate(sources)
    ]
    if not rows:
        return 0
    try:
        with transaction.atomic():
            inserted = rows_insert(rows)
    except DatabaseError:
        message_ids = [str(message.pk) for message, _ in planned]
        logger.exception("media attachments not planned", extra={"message_ids": message_ids})
        return 0
    for row in rows:  # in the messages' order
        if row.pk in inserted:
            enqueue_batched_on_commit(registered_task(MEDIA_DOWNLOAD_BATCH_TASK), row.pk)
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
        enqueue_batched_on_commit(registered_task(MEDIA_DOWNLOAD_BATCH_TASK), attachment_id)
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
