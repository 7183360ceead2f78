"""The ``security.alert`` event: a tenant's endpoints hear about a new security alert on that tenant, written in
the alert's own transaction. Operator-wide alerts (no tenant) and bumps of an open alert write none."""

from __future__ import annotations

from audit.alerts.listeners import AlertRaised
from events.outbox import events_record
from messaging.business_events import BusinessEvent, EventType


def security_alert_event_write(raised: AlertRaised) -> None:
    alert = raised.alert
    if not raised.is_new or alert.tenant_id is None:
        return
    event = BusinessEvent(
        type=EventType.SECURITY_ALERT,
        tenant_id=alert.tenant_id,
        occurred_at=alert.first_seen,
        facts={
            "alert": str(alert.pk),
            "detector": alert.detector,
            "severity": alert.severity,
            "title": alert.title,
            "suggested_action": alert.suggested_action,
        },
    )
    events_record([event])
