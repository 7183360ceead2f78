from __future__ import annotations

from celery import shared_task

from audit.alerts.services import alerts_quiet_resolve
from audit.checkpoints.services import checkpoints_write_advanced
from audit.services import audit_integrity_check
from audit.task_names import AUDIT_CHECKPOINTS_TASK, AUDIT_VERIFY_CHAINS_TASK, SECURITY_ALERTS_QUIET_TASK
from core.tasks import Counts, lock_guarded


@shared_task(name=AUDIT_VERIFY_CHAINS_TASK)
@lock_guarded("audit-verify-chains")
def audit_verify_chains_task() -> Counts:
    """Hourly: recompute every chain; a broken chain is logged and recorded once on the operator chain."""
    return audit_integrity_check()


@shared_task(name=SECURITY_ALERTS_QUIET_TASK)
@lock_guarded("security-alerts-quiet-resolve")
def security_alerts_quiet_resolve_task() -> Counts:
    """Every ten minutes: resolve the security alerts nothing has bumped for the quiet period."""
    return {"resolved": alerts_quiet_resolve()}


@shared_task(name=AUDIT_CHECKPOINTS_TASK)
@lock_guarded("audit-checkpoints")
def audit_checkpoints_task() -> Counts:
    """Hourly: sign and export a checkpoint at the head of every chain that advanced."""
    return checkpoints_write_advanced()
