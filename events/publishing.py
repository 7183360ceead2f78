"""Handing deliveries to the ``events`` queue: on commit, batched, for the deliveries a transaction owes; at once
for the relay's. Only ids go to the broker. ``published_at`` says when a delivery was last handed over, so the
relay publishes again only what was lost (a publish that failed, a worker killed with the task)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from core.tasks import BATCH_MAX, enqueue_batched_on_commit, registered_task
from events.task_names import DELIVER_TASK

logger = logging.getLogger(__name__)


def deliveries_publish_on_commit(delivery_ids: Sequence[uuid.UUID]) -> None:
    """Publish ``delivery_ids`` once the caller's transaction commits (the rows stamp ``published_at`` themselves)."""
    task = registered_task(DELIVER_TASK)
    for delivery_id in delivery_ids:
        enqueue_batched_on_commit(task, delivery_id)


def deliveries_publish(delivery_ids: Sequence[uuid.UUID]) -> int:
    """Publish ``delivery_ids`` now, BATCH_MAX to a task; returns how many were handed over (the rest wait for the
    relay's next look when the broker cannot be reached)."""
    task = registered_task(DELIVER_TASK)
    published = 0
    for start in range(0, len(delivery_ids), BATCH_MAX):
        batch = [str(delivery_id) for delivery_id in delivery_ids[start : start + BATCH_MAX]]
        try:
            task.apply_async(args=(batch,))
        except Exception:  # the broker is down: the relay publishes them again later
            logger.warning("publishing deliveries failed; the relay tries again", extra={"ids": len(batch)})
            break
        published += len(batch)
    return published
