from __future__ import annotations

import uuid
from datetime import timedelta

from celery import shared_task
from django.db import OperationalError

from core.tasks import Counts, lock_guarded
from webhooks.services import deliveries_requeue_stale, delivery_process

STALE_AFTER = timedelta(minutes=2)


@shared_task(
    name="ingest.process_delivery",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def process_delivery_task(delivery_id: str) -> Counts:
    return dict(delivery_process(delivery_id=uuid.UUID(delivery_id)))


@shared_task(name="maintenance.deliveries_sweep")
@lock_guarded("deliveries-sweep")
def deliveries_sweep_task() -> Counts:
    return {"requeued": deliveries_requeue_stale(older_than=STALE_AFTER)}
