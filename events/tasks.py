"""The event stream's Celery tasks: ``events.deliver`` (queue ``events``; ids only, late acks as every task) and
the relay (``maintenance.events_relay``, in the beat schedule). events.apps imports this module in every process,
so the names are registered before anything publishes them."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.db import OperationalError

from core.tasks import Counts, lock_guarded
from events.delivery import deliveries_deliver
from events.relay import events_relay
from events.task_names import DELIVER_TASK, RELAY_TASK


@shared_task(name=DELIVER_TASK, autoretry_for=(OperationalError,), retry_backoff=True, retry_jitter=True, max_retries=8)
def deliver_task(delivery_ids: list[str]) -> Counts:
    """Attempt the due deliveries among ``delivery_ids``; a database error retries the batch (those already
    attempted are no longer due then)."""
    return deliveries_deliver([uuid.UUID(delivery_id) for delivery_id in delivery_ids])


@shared_task(name=RELAY_TASK)
@lock_guarded("events-relay", ttl_seconds=60)
def events_relay_task() -> Counts:
    return events_relay()
