from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError

from core.batch_memo import batch_memo
from core.tasks import Counts, lock_guarded
from webhooks.services import (
    PROCESS_DELIVERIES_TASK,
    PROCESS_DELIVERY_TASK,
    deliveries_fail_exhausted,
    deliveries_requeue_stale,
    delivery_attempt_start,
    delivery_fail,
    delivery_process,
)
from webhooks.task_names import DELIVERIES_SWEEP_TASK

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=2)


@shared_task(
    bind=True,
    name=PROCESS_DELIVERY_TASK,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def process_delivery_task(self: Task[Any, Any], delivery_id: str) -> Counts:
    """One attempt at a delivery. Celery's own retries of a database error belong to the same attempt; a new
    publish (the sweeper, a broker redelivery after a worker died) is a new one. Any other error is logged
    by class name only, and the sweeper tries again later until the attempts run out: then it is failed."""
    return _process_one(uuid.UUID(delivery_id), is_retry=bool(self.request.retries))


@shared_task(
    bind=True,
    name=PROCESS_DELIVERIES_TASK,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def process_deliveries_task(self: Task[Any, Any], delivery_ids: list[str]) -> Counts:
    """The deliveries the webhook edge published together; each is its own attempt, as above (a database
    error retries the batch: the deliveries already processed are skipped then). Channels and event endpoints
    are read once for the whole batch (``batch_memo``)."""
    totals: Counter[str] = Counter()
    with batch_memo():
        for delivery_id in delivery_ids:
            totals.update(_process_one(uuid.UUID(delivery_id), is_retry=bool(self.request.retries)))
    return dict(totals)


def _process_one(pk: uuid.UUID, *, is_retry: bool) -> Counts:
    attempts = delivery_attempt_start(delivery_id=pk, is_retry=is_retry)
    if attempts is None:
        return {"not_waiting": 1}  # processed, failed or gone meanwhile
    try:
        return dict(delivery_process(delivery_id=pk))
    except OperationalError:
        raise
    except Exception as error:  # a bug or a poison body: counted, never retried forever
        return _attempt_failed(pk, attempts, error)


def _attempt_failed(delivery_id: uuid.UUID, attempts: int, error: Exception) -> Counts:
    if attempts >= settings.GATEWAY_DELIVERY_MAX_ATTEMPTS:
        return {"failed": int(delivery_fail(delivery_id=delivery_id, attempts=attempts, error=type(error).__name__))}
    logger.warning(
        "webhook delivery attempt failed; the sweeper retries it",
        extra={"delivery_id": str(delivery_id), "attempts": attempts, "error": type(error).__name__},
    )
    return {"attempt_failed": 1}


@shared_task(name=DELIVERIES_SWEEP_TASK)
@lock_guarded("deliveries-sweep")
def deliveries_sweep_task() -> Counts:
    return {
        "failed": deliveries_fail_exhausted(older_than=STALE_AFTER),
        "requeued": deliveries_requeue_stale(older_than=STALE_AFTER),
    }
