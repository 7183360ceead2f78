from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from console.rollups import traffic_rollup_recent
from console.task_names import TRAFFIC_ROLLUP_TASK
from core.tasks import Counts, lock_guarded

ROLLUP_LOCK_SECONDS = 300  # longer than a run may take (the task's hard time limit), so two never overlap


@shared_task(name=TRAFFIC_ROLLUP_TASK)
@lock_guarded("console-traffic-rollup", ttl_seconds=ROLLUP_LOCK_SECONDS)
def console_traffic_rollup_task() -> Counts:
    """Every minute (beat): the current and previous hour of every tenant, and hours whose messages changed."""
    return traffic_rollup_recent(now=timezone.now())
