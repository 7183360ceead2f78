"""Raise (deduplicated) and resolve security alerts; both are recorded in the tenant's audit chain."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.alerts.listeners import AlertRaised, alert_notifiers_run, alert_writers_run
from audit.alerts.models import AlertStatus, SecurityAlert, Severity, ThresholdOverride
from audit.alerts.thresholds import threshold_for
from audit.models import AuditAction
from audit.services import audit_record
from core.metrics import metric_increment

EvidenceValue = str | int | bool | None
# Evidence names things by id (UUIDs, hashes, network prefixes) and counts them: nothing longer fits.
EVIDENCE_TEXT_MAX = 64
SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class EvidenceError(ValueError):
    """Evidence that is not ids and counts (a long text, a nested value): refused rather than stored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSpec:
    """What a detector saw. ``dedupe_key`` names the thing under attack (an app, an account, a key, a network):
    while an alert of the same detector and key is open, raising again bumps it."""

    detector: str
    dedupe_key: str
    tenant_id: uuid.UUID | None
    severity: Severity
    title: str
    evidence: Mapping[str, EvidenceValue]
    suggested_action: str


def alert_raise(*, spec: AlertSpec) -> AlertRaised:
    """Open an alert, or bump the open one with the same detector and dedupe key (occurrences, last seen, the
    latest evidence, the higher severity). Opening is audited; writers run in this transaction, notifiers after it."""
    evidence = _evidence_checked(spec.evidence)
    with transaction.atomic():
        alert = _open_alert_locked(spec)
        is_new = alert is None
        if alert is None:
            alert = _alert_open(spec, evidence)
        if alert is None:  # another process opened it between our look and our insert
            alert = _open_alert_locked(spec)
            is_new = False
        if alert is None:  # pragma: no cover - the conflicting row is open and locked for us by now
            raise RuntimeError("open alert vanished")
        if not is_new:
            _alert_bump(alert, spec, evidence)
        raised = AlertRaised(alert=alert, is_new=is_new)
        alert_writers_run(raised)
        transaction.on_commit(lambda: alert_notifiers_run(raised))
        transaction.on_commit(lambda: metric_increment("gateway_security_alerts", kind=spec.detector))
    return raised


def alert_resolve(
    *, alert: SecurityAlert, actor_id: uuid.UUID | None, actor_label: str, quiet_since: datetime | None = None
) -> bool:
    """Mark an open alert resolved (a conditional update: resolving twice is a no-op that returns False). With
    ``quiet_since``, only if nothing bumped it since then (a burst that came back keeps its alert open)."""
    now = timezone.now()
    still_open = SecurityAlert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN)
    if quiet_since is not None:
        still_open = still_open.filter(last_seen__lt=quiet_since)
    with transaction.atomic():
        updated = still_open.update(
            status=AlertStatus.RESOLVED, resolved_at=now, resolved_by_id=actor_id, resolved_by_label=actor_label[:200]
        )
        if not updated:
            return False
        audit_record(
            action=AuditAction.SECURITY_ALERT_RESOLVED,
            tenant_id=alert.tenant_id,
            actor_id=actor_id,
            actor_label=actor_label,
            target_type="security_alert",
            target_id=str(alert.pk),
            details={"detector": alert.detector, "occurrences": alert.occurrences},
        )
    alert.refresh_from_db()
    return True


def _open_alert_locked(spec: AlertSpec) -> SecurityAlert | None:
    alerts = SecurityAlert.objects.select_for_update().filter(
        detector=spec.detector, dedupe_key=spec.dedupe_key, status=AlertStatus.OPEN
    )
    return alerts.first()


def _alert_open(spec: AlertSpec, evidence: dict[str, EvidenceValue]) -> SecurityAlert | None:
    now = timezone.now()
    alert = SecurityAlert(
        tenant_id=spec.tenant_id,
        detector=spec.detector,
        severity=spec.severity,
        dedupe_key=spec.dedupe_key[:200],
        title=spec.title[:200],
        evidence=evidence,
        suggested_action=spec.suggested_action,
        first_seen=now,
        last_seen=now,
    )
    try:
        with transaction.atomic():
            alert.save(force_insert=True)
    except IntegrityError:
        return None
    audit_record(
        action=AuditAction.SECURITY_ALERT_RAISED,
        tenant_id=spec.tenant_id,
        actor_label=f"detector {spec.detector}",
        target_type="security_alert",
        target_id=str(alert.pk),
        details={"detector": spec.detector, "severity": str(spec.severity), **evidence},
    )
    return alert


def _alert_bump(alert: SecurityAlert, spec: AlertSpec, evidence: dict[str, EvidenceValue]) -> None:
    alert.occurrences += 1
    alert.last_seen = timezone.now()
    alert.evidence = {**alert.evidence, **evidence}
    if SEVERITY_RANK[Severity(spec.severity)] > SEVERITY_RANK[Severity(alert.severity)]:
        alert.severity = spec.severity
    alert.save(update_fields=["occurrences", "last_seen", "evidence", "severity"])


def _evidence_checked(evidence: Mapping[str, EvidenceValue]) -> dict[str, EvidenceValue]:
    checked: dict[str, EvidenceValue] = {}
    for name, value in evidence.items():
        if value is not None and not isinstance(value, str | int | bool):
            raise EvidenceError(f"evidence {name!r} must be an id, a count or a flag")
        if isinstance(value, str) and len(value) > EVIDENCE_TEXT_MAX:
            raise EvidenceError(f"evidence {name!r} is longer than an id")
        checked[name] = value
    return checked


def threshold_override_save(
    *, override: ThresholdOverride, actor_id: uuid.UUID | None, actor_label: str, deleted: bool = False
) -> None:
    """Save (or delete) a tenant's threshold override, audited in the tenant's chain."""
    with transaction.atomic():
        if deleted:
            override.delete()
        else:
            override.full_clean()
            override.save()
        audit_record(
            action=AuditAction.SECURITY_THRESHOLD_CHANGED,
            tenant_id=override.tenant_id,
            actor_id=actor_id,
            actor_label=actor_label,
            target_type="threshold_override",
            target_id=override.name,
            details={"name": override.name, "value": None if deleted else override.value},
        )


QUIET_HOURS = "alert_quiet_resolve_hours"
QUIET_LABEL = "resolved after {hours} h without a new occurrence"


def alerts_quiet_resolve(*, now: datetime | None = None) -> int:
    """Resolve the open alerts whose cause has ended: nothing bumped them for ``alert_quiet_resolve_hours`` (per
    tenant; 0 keeps them open until a person resolves them). Returns how many were resolved."""
    now = now or timezone.now()
    resolved = 0
    for alert in SecurityAlert.objects.filter(status=AlertStatus.OPEN).order_by("last_seen"):
        hours = threshold_for(QUIET_HOURS, tenant_id=alert.tenant_id)
        quiet_since = now - timedelta(hours=hours)
        if hours > 0 and alert.last_seen < quiet_since:
            label = QUIET_LABEL.format(hours=hours)
            resolved += alert_resolve(alert=alert, actor_id=None, actor_label=label, quiet_since=quiet_since)
    return resolved
