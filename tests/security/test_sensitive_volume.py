"""Unusual volumes of reveals, exports, erasures and legal-hold releases per user, fed by audit_record itself."""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from accounts.models import Tenant, User
from audit.alerts.detectors import base as detector_base
from audit.alerts.models import SecurityAlert, Severity, ThresholdOverride
from audit.models import AuditAction, AuditEvent
from audit.services import audit_record

pytestmark = pytest.mark.django_db


def _record(action: str, tenant: Tenant, user: User | None, target: str = "") -> AuditEvent:
    return audit_record(
        action=action,
        tenant_id=tenant.pk,
        actor_id=user.pk if user else None,
        actor_label=user.email if user else "subject link",
        target_type="message",
        target_id=target or str(uuid.uuid4()),
    )


def test_a_user_revealing_content_past_the_threshold_raises_exactly_one_alert(tenant_a, owner_a):
    ThresholdOverride.objects.create(tenant_id=tenant_a.pk, name="reveals_per_user", value=5)
    events = [_record(AuditAction.CONTENT_REVEALED, tenant_a, owner_a) for _ in range(9)]

    [alert] = SecurityAlert.objects.all()
    assert alert.detector == "sensitive_actions_volume"
    assert alert.tenant_id == tenant_a.pk
    assert alert.severity == Severity.HIGH
    assert alert.dedupe_key == f"reveals:{tenant_a.pk}:{owner_a.pk}"
    assert alert.occurrences == 1
    assert alert.evidence == {
        "kind": "reveals",
        "user_id": str(owner_a.pk),
        "count": 5,
        "window_seconds": 3600,
        "last_event_id": str(events[4].pk),
        "last_target_id": events[4].target_id,
    }
    assert owner_a.email not in json.dumps(alert.evidence)
    raised = AuditEvent.objects.filter(action=AuditAction.SECURITY_ALERT_RAISED, tenant_id=tenant_a.pk)
    assert raised.count() == 1


def test_exports_links_and_downloads_count_together_and_hold_releases_are_critical(tenant_a, owner_a):
    ThresholdOverride.objects.create(tenant_id=tenant_a.pk, name="exports_per_user", value=3)
    for action in (
        AuditAction.SUBJECT_EXPORT_REQUESTED,
        AuditAction.SUBJECT_EXPORT_LINK_ISSUED,
        AuditAction.SUBJECT_EXPORT_DOWNLOADED,
        AuditAction.SUBJECT_EXPORT_REQUESTED,
    ):
        _record(action, tenant_a, owner_a)
    for _ in range(3):  # the installation's default: 3 releases
        _record(AuditAction.LEGAL_HOLD_RELEASED, tenant_a, owner_a)

    alerts = {alert.evidence["kind"]: alert for alert in SecurityAlert.objects.all()}
    assert set(alerts) == {"exports", "hold_releases"}
    assert alerts["exports"].severity == Severity.HIGH
    assert alerts["exports"].evidence["count"] == 3
    assert alerts["hold_releases"].severity == Severity.CRITICAL


def test_an_erasure_spree_alerts_per_user_and_tenant(tenant_a, tenant_b, owner_a, owner_b):
    ThresholdOverride.objects.create(tenant_id=tenant_a.pk, name="erasures_per_user", value=4)
    for _ in range(4):
        _record(AuditAction.CONTACT_ERASED, tenant_a, owner_a)
        _record(AuditAction.CONTACT_ERASED, tenant_b, owner_b)  # tenant b keeps the default (25)

    [alert] = SecurityAlert.objects.all()
    assert (alert.tenant_id, alert.evidence["user_id"]) == (tenant_a.pk, str(owner_a.pk))


def test_steady_sensitive_work_spread_over_users_and_actions_without_a_user_raise_nothing(tenant_a, owner_a):
    ThresholdOverride.objects.create(tenant_id=tenant_a.pk, name="reveals_per_user", value=5)
    other = User.objects.create_user(email="agent@a.example", password="x" * 20)
    for _ in range(4):
        _record(AuditAction.CONTENT_REVEALED, tenant_a, owner_a)
        _record(AuditAction.CONTENT_REVEALED, tenant_a, other)
    for _ in range(10):  # a subject downloading through its link, holds ending on their date
        _record(AuditAction.SUBJECT_EXPORT_DOWNLOADED, tenant_a, None)
        _record(AuditAction.LEGAL_HOLD_RELEASED, tenant_a, None)
    for _ in range(30):  # not watched
        _record(AuditAction.CHANNEL_CREATED, tenant_a, owner_a)

    assert not SecurityAlert.objects.exists()


def test_a_redis_outage_records_the_action_and_counts_nothing(tenant_a, owner_a, monkeypatch):
    def unreachable(**kwargs):
        raise redis.exceptions.ConnectionError("redis unreachable")

    monkeypatch.setattr(detector_base, "window_count", unreachable)
    ThresholdOverride.objects.create(tenant_id=tenant_a.pk, name="reveals_per_user", value=1)

    event = _record(AuditAction.CONTENT_REVEALED, tenant_a, owner_a)

    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert not SecurityAlert.objects.exists()
