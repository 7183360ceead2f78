from __future__ import annotations

import uuid
from typing import Any

from celery import Task, shared_task
from django.db import OperationalError
from django.utils import timezone

from core.tasks import Counts, lock_guarded
from messaging import dispatch
from messaging.media import MAX_ATTEMPTS, MediaRetryError, media_attachment_download, media_retry_delay


@shared_task(
    name="media.download",
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


# --- outbound (messaging.dispatch) --------------------------------------------------------------------


@shared_task(
    name="outbound.send", autoretry_for=(OperationalError,), retry_backoff=True, retry_jitter=True, max_retries=5
)
def send_task(message_id: str) -> str:
    """One try at sending a queued message; the lease makes a duplicate publish a no-op."""
    return dispatch.message_send(message_id=uuid.UUID(message_id))


@shared_task(
    name="outbound.send_batch", autoretry_for=(OperationalError,), retry_backoff=True, retry_jitter=True, max_retries=5
)
def send_batch_task(message_ids: list[str]) -> Counts:
    """One try at sending a batch the relay published (messages of one channel); leases make repeats no-ops."""
    return dict(dispatch.messages_send(message_ids=[uuid.UUID(message_id) for message_id in message_ids]))


@shared_task(name="maintenance.outbound_relay")
@lock_guarded("outbound-relay", ttl_seconds=60)
def outbound_relay_task() -> Counts:
    return {"published": dispatch.outbox_relay(now=timezone.now())}


@shared_task(name="maintenance.outbound_sweep")
@lock_guarded("outbound-sweep", ttl_seconds=120)
def outbound_sweep_task() -> Counts:
    return dispatch.outbound_sweep(now=timezone.now())
