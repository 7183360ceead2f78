"""The names of policies' periodic tasks, for ``policies.tasks`` and ``policies.subjects.tasks`` (which declare
them), for the code that publishes the purge by name, and for beat's schedule (the settings read ``PERIODIC``
before any app is loaded, so this module imports no Django)."""

from __future__ import annotations

from core.periodic import Periodic

PURGE_TASK = "maintenance.policies_purge"  # runs ``retention_purge`` (policies.tasks); a released hold publishes it
LEGAL_HOLDS_MAINTAIN_TASK = "maintenance.legal_holds_maintain"
SUBJECT_EXPORTS_EXPIRE_TASK = "maintenance.subject_exports_expire"
SUBJECT_EXPORTS_REPUBLISH_TASK = "maintenance.subject_exports_republish"
AUDIT_PRUNE_TASK = "maintenance.audit_prune"

PERIODIC = (
    Periodic("policies-purge", PURGE_TASK, 60.0),
    Periodic("legal-holds-maintain", LEGAL_HOLDS_MAINTAIN_TASK, 60.0),
    Periodic("subject-exports-expire", SUBJECT_EXPORTS_EXPIRE_TASK, 600.0),
    Periodic("subject-exports-republish", SUBJECT_EXPORTS_REPUBLISH_TASK, 300.0),
    Periodic("audit-prune", AUDIT_PRUNE_TASK, 3600.0),
)
