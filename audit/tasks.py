from __future__ import annotations

from celery import shared_task

from audit.services import audit_integrity_check
from audit.task_names import AUDIT_VERIFY_CHAINS_TASK
from core.tasks import Counts, lock_guarded


@shared_task(name=AUDIT_VERIFY_CHAINS_TASK)
@lock_guarded("audit-verify-chains")
def audit_verify_chains_task() -> Counts:
    """Hourly: recompute every chain; a broken chain is logged and recorded once on the operator chain."""
    return audit_integrity_check()
