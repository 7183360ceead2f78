from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from core.tasks import Counts, lock_guarded
from policies.retention.audit_prune import audit_retention_apply
from policies.retention.purge import DEFAULT_DUTY, DEFAULT_WAL_MB_PER_SECOND, retention_purge
from policies.task_names import AUDIT_PRUNE_TASK, PURGE_TASK

PURGE_MAX_SECONDS = 240.0  # a pass stops here (marked incomplete); the next one, a minute later, goes on
PURGE_LOCK_SECONDS = 300  # longer than a pass may run, so two passes never overlap


@shared_task(name=PURGE_TASK)
@lock_guarded("policies-purge", ttl_seconds=PURGE_LOCK_SECONDS)
def policies_purge_task() -> Counts:
    """Every minute (beat): expired data goes in short batches, then past day keys are scheduled for destruction."""
    outcome = retention_purge(
        now=timezone.now(),
        max_seconds=PURGE_MAX_SECONDS,
        duty=DEFAULT_DUTY,
        wal_mb_per_second=DEFAULT_WAL_MB_PER_SECOND,
        actor_label="beat",
    )
    return {**outcome.totals(), "incomplete": int(not outcome.complete)}


@shared_task(name=AUDIT_PRUNE_TASK)
@lock_guarded("audit-prune", ttl_seconds=PURGE_LOCK_SECONDS)
def audit_prune_task() -> Counts:
    """Hourly (beat): audit events past their chain's lifetime go, behind signed checkpoints."""
    return audit_retention_apply(now=timezone.now(), max_seconds=PURGE_MAX_SECONDS)
