from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from celery import Task, shared_task
from django.db import OperationalError
from django.utils import timezone

from core.tasks import Counts, lock_guarded
from messaging.inbound.media import (
    MAX_ATTEMPTS,
    media_attempts_made,
    media_pending_requeue,
)
from messaging.inbound.media_fetch import MediaRetryError, media_attachment_download, media_retry_delay
from messaging.message_templates import templates_sync_all
from messaging.outbound.dispatch import message_send_gathering, messages_send
from messaging.outbound.dispatch.relay import outbox_relay
from messaging.outbound.dispatch.sweep import outbound_sweep
from messaging.task_names import (
    MEDIA_DOWNLOAD_BATCH_TASK,
    MEDIA_DOWNLOAD_TASK,
    MEDIA_SWEEP_TASK,
    OUTBOUND_RELAY_TASK,
    OUTBOUND_SWEEP_TASK,
    SEND_BATCH_TASK,
    SEND_TASK,
    TEMPLATES_SYNC_TASK,
    WINDOWS_CLOSING_TASK,
)
from messaging.windows import conversation_windows_closing


@shared_task(
    name=MEDIA_DOWNLOAD_TASK,
    bind=True,
    max_retries=MAX_ATTEMPTS - 1,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
)
def media_download_task(self: Task[Any, Any], attachment_id: str) -> str:
    is_last_attempt = self.request.retries >= MAX_ATTEMPTS - 1
    try:
        return media_attachment_download(attachment_id=uuid.UUID(attachment_id), is_last_attempt=is_last_attempt)
    except MediaRetryError:
        raise self.retry(countdown=media_retry_delay(retries=self.request.retries)) from None


@shared_task(name=MEDIA_DOWNLOAD_BATCH_TASK, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def media_download_batch_task(attachment_ids: list[str]) -> Counts:
    """First attempts of the attachments one fan-out (or a sweep) published together; one that may succeed
    later goes on as its own ``media.download`` with the retries it has left."""
    ids = [uuid.UUID(attachment_id) for attachment_id in attachment_ids]
    outcomes: Counter[str] = Counter()
    for attachment_id, attempts in media_attempts_made(attachment_ids=ids).items():
        is_last_attempt = attempts >= MAX_ATTEMPTS - 1
        try:
            outcomes[media_attachment_download(attachment_id=attachment_id, is_last_attempt=is_last_attempt)] += 1
        except MediaRetryError:
            retries: dict[str, Any] = {"retries": attempts + 1}  # the budget left to media.download's own retries
            media_download_task.apply_async(
                args=(str(attachment_id),), countdown=media_retry_delay(retries=attempts), **retries
            )
            outcomes["retry_later"] += 1
    return dict(outcomes)


@shared_task(name=MEDIA_SWEEP_TASK)
@lock_guarded("media-sweep", ttl_seconds=300)
def media_sweep_task() -> Counts:
    return {"published": len(media_pending_requeue(now=timezone.now()))}


# --- outbound (messaging.outbound.dispatch) -----------------------------------------------------------


@shared_task(name=SEND_TASK, autoretry_for=(OperationalError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def send_task(message_id: str) -> Counts:
    """One try at sending a queued message, and the messages waiting behind it in the queue once it is leased;
    the lease makes a duplicate publish a no-op."""
    return dict(message_send_gathering(message_id=uuid.UUID(message_id)))


@shared_task(
    name=SEND_BATCH_TASK,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def send_batch_task(message_ids: list[str]) -> Counts:
    """One try at sending a batch the relay published (messages of one channel); leases make repeats no-ops."""
    return dict(messages_send(message_ids=[uuid.UUID(message_id) for message_id in message_ids]))


@shared_task(name=OUTBOUND_RELAY_TASK)
@lock_guarded("outbound-relay", ttl_seconds=60)
def outbound_relay_task() -> Counts:
    return {"published": outbox_relay(now=timezone.now())}


@shared_task(name=OUTBOUND_SWEEP_TASK)
@lock_guarded("outbound-sweep", ttl_seconds=120)
def outbound_sweep_task() -> Counts:
    return outbound_sweep(now=timezone.now())


@shared_task(name=WINDOWS_CLOSING_TASK)
@lock_guarded("conversation-windows-closing", ttl_seconds=120)
def conversation_windows_closing_task() -> Counts:
    """``conversation.window_closing`` for the reply windows closing within the notice, once each."""
    return conversation_windows_closing(now=timezone.now())


@shared_task(name=TEMPLATES_SYNC_TASK)
@lock_guarded("templates-sync", ttl_seconds=1800)
def templates_sync_task() -> Counts:
    """Every WhatsApp Business Account's templates as Graph lists them (``messaging.message_templates``)."""
    return {"accounts": templates_sync_all()}
