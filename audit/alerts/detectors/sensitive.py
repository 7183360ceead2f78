"""Unusual volumes of sensitive actions per user: content reveals, subject exports, erasures, legal-hold releases.

Fed by ``audit_record`` itself (registered in ``audit/apps.py``): each of these actions is audited already, so
watching the record costs one counter call for them and a dict lookup for every other action. A user is counted
by id; an action with no user (a subject's download through its link, a hold that ended on its date) is not
counted: no one to suspect.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.alerts.detectors.base import window_count_guarded
from audit.alerts.models import Severity
from audit.alerts.services import AlertSpec, alert_raise
from audit.alerts.thresholds import threshold_for
from audit.models import AuditAction, AuditEvent

DETECTOR = "sensitive_actions_volume"
WINDOW = "sensitive_window_seconds"


@dataclass(frozen=True, slots=True)
class SensitiveKind:
    """One kind of sensitive action: its threshold's name, how serious a burst is and what to do about it."""

    name: str
    threshold: str
    severity: Severity
    suggested_action: str


REVEALS = SensitiveKind(
    "reveals",
    "reveals_per_user",
    Severity.HIGH,
    "Check with the user why so much encrypted content was revealed; suspend the account if it was not them.",
)
EXPORTS = SensitiveKind(
    "exports",
    "exports_per_user",
    Severity.HIGH,
    "Check that these subject exports were requested by the subjects; revoke the links and the user's access if not.",
)
ERASURES = SensitiveKind(
    "erasures",
    "erasures_per_user",
    Severity.HIGH,
    "Check that these erasures were requested; suspend the user's access if not (erased contacts cannot be restored).",
)
HOLD_RELEASES = SensitiveKind(
    "hold_releases",
    "hold_releases_per_user",
    Severity.CRITICAL,
    "Check that the legal holds were meant to be released and place them again if not: released data returns "
    "to its retention and will be purged.",
)

KIND_OF_ACTION: dict[str, SensitiveKind] = {
    AuditAction.CONTENT_REVEALED: REVEALS,
    AuditAction.SUBJECT_EXPORT_REQUESTED: EXPORTS,
    AuditAction.SUBJECT_EXPORT_LINK_ISSUED: EXPORTS,
    AuditAction.SUBJECT_EXPORT_DOWNLOADED: EXPORTS,
    AuditAction.CONTACT_ERASED: ERASURES,
    AuditAction.LEGAL_HOLD_RELEASED: HOLD_RELEASES,
}


def sensitive_action_observe(event: AuditEvent) -> None:
    """Count the event for its user (or its tenant) and kind; raise an alert when the count reaches the kind's
    threshold in the window (once per burst: the count passes the threshold once)."""
    kind = KIND_OF_ACTION.get(event.action)
    if kind is None or event.actor_id is None:
        return
    tenant_id = event.tenant_id
    actor = str(event.actor_id)
    window = threshold_for(WINDOW, tenant_id=tenant_id)
    threshold = threshold_for(kind.threshold, tenant_id=tenant_id)
    if window <= 0 or threshold <= 0:
        return
    key = f"sensitive:{kind.name}:{tenant_id or 'operator'}:{actor}"
    count = window_count_guarded(detector=DETECTOR, key=key, window_seconds=window)
    if count is None or count != threshold:
        return
    alert_raise(spec=_spec(kind, event, actor, count, window))


def _spec(kind: SensitiveKind, event: AuditEvent, actor: str, count: int, window: int) -> AlertSpec:
    return AlertSpec(
        detector=DETECTOR,
        dedupe_key=f"{kind.name}:{event.tenant_id or 'operator'}:{actor}",
        tenant_id=event.tenant_id,
        severity=kind.severity,
        title=f"Unusual volume of {kind.name.replace('_', ' ')} by one user",
        evidence={
            "kind": kind.name,
            "user_id": actor,
            "count": count,
            "window_seconds": window,
            "last_event_id": str(event.pk),
            "last_target_id": event.target_id[:64] or None,
        },
        suggested_action=kind.suggested_action,
    )
