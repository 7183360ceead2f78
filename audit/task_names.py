"""The names of audit's periodic tasks, for ``audit.tasks`` (which declares them) and beat's schedule (the
settings read ``PERIODIC`` before any app is loaded, so this module imports no Django)."""

from __future__ import annotations

from core.periodic import Periodic

AUDIT_VERIFY_CHAINS_TASK = "maintenance.audit_verify_chains"

SECURITY_ALERTS_QUIET_TASK = "maintenance.security_alerts_quiet_resolve"

AUDIT_CHECKPOINTS_TASK = "maintenance.audit_checkpoints"

PERIODIC = (
    Periodic("audit-verify-chains", AUDIT_VERIFY_CHAINS_TASK, 3600.0),
    Periodic("security-alerts-quiet-resolve", SECURITY_ALERTS_QUIET_TASK, 600.0),
    Periodic("audit-checkpoints", AUDIT_CHECKPOINTS_TASK, 3600.0),
)
