"""The admin's security alerts and threshold overrides, tenant-scoped; the selectors the dashboard reads."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.mfa import totp_device_provision
from accounts.models import Role, Tenant, User
from audit.alerts.models import AlertStatus, SecurityAlert, Severity, ThresholdOverride
from audit.alerts.selectors import security_alerts_count, security_alerts_latest
from audit.alerts.services import AlertSpec, alert_raise
from audit.models import AuditAction, AuditEvent
from tests.accounts.admin_rows import staff_create
from tests.conftest import verify_session

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:audit_securityalert_changelist"


def raise_alert(tenant_id: uuid.UUID | None, key: str, severity: Severity = Severity.HIGH) -> SecurityAlert:
    spec = AlertSpec(
        detector="test.detector",
        dedupe_key=key,
        tenant_id=tenant_id,
        severity=severity,
        title=f"Alert {key}",
        evidence={"count": 1},
        suggested_action="Act.",
    )
    return alert_raise(spec=spec).alert


def verified(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, totp_device_provision(user=user))
    return client


def test_staff_see_their_tenants_alerts_only_and_owners_resolve_them(tenant_a: Tenant, tenant_b: Tenant) -> None:
    mine, theirs, operator_wide = raise_alert(tenant_a.pk, "a"), raise_alert(tenant_b.pk, "b"), raise_alert(None, "o")
    owner = verified(staff_create(tenant_a, Role.OWNER))

    page = owner.get(reverse(CHANGELIST)).content.decode()
    other = owner.get(reverse("admin:audit_securityalert_change", args=[theirs.pk]))
    resolved = owner.post(reverse(CHANGELIST), {"action": "resolve", "_selected_action": [str(mine.pk)]})

    assert "Alert a" in page and "Alert b" not in page and "Alert o" not in page
    assert other.status_code == 404
    assert resolved.status_code == 302
    mine.refresh_from_db()
    assert mine.status == AlertStatus.RESOLVED
    assert mine.resolved_by_label == f"{Role.OWNER}@{tenant_a.slug}.example"
    assert AuditEvent.objects.filter(action=AuditAction.SECURITY_ALERT_RESOLVED, tenant_id=tenant_a.pk).count() == 1
    operator_wide.refresh_from_db()
    assert operator_wide.status == AlertStatus.OPEN


def test_an_auditor_sees_alerts_but_cannot_resolve_them(tenant_a: Tenant) -> None:
    alert = raise_alert(tenant_a.pk, "a")
    auditor = verified(staff_create(tenant_a, Role.AUDITOR))

    page = auditor.get(reverse(CHANGELIST)).content.decode()
    auditor.post(reverse(CHANGELIST), {"action": "resolve", "_selected_action": [str(alert.pk)]})

    assert "Alert a" in page and "Resolve selected alerts" not in page
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_agents_do_not_see_security_alerts(tenant_a: Tenant) -> None:
    raise_alert(tenant_a.pk, "a")
    agent = verified(staff_create(tenant_a, Role.AGENT))

    assert agent.get(reverse(CHANGELIST)).status_code == 403


def test_the_changelist_filters_by_severity_and_tenant(operator_client: Client, tenant_a: Tenant) -> None:
    raise_alert(tenant_a.pk, "high-a", Severity.HIGH)
    raise_alert(tenant_a.pk, "low-a", Severity.LOW)
    raise_alert(None, "operator", Severity.CRITICAL)

    low = operator_client.get(reverse(CHANGELIST), {"severity__exact": "low"}).content.decode()
    operator_wide = operator_client.get(reverse(CHANGELIST), {"tenant": "operator"}).content.decode()

    assert "Alert low-a" in low and "Alert high-a" not in low
    assert "Alert operator" in operator_wide and "Alert low-a" not in operator_wide


def test_an_owner_sets_an_override_for_their_own_tenant_only_and_it_is_audited(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    owner = verified(staff_create(tenant_a, Role.OWNER))
    add = reverse("admin:audit_thresholdoverride_add")

    refused = owner.post(add, {"tenant": str(tenant_b.pk), "name": "api_key_failures_per_key", "value": "5"})
    unknown = owner.post(add, {"tenant": str(tenant_a.pk), "name": "no_such_threshold", "value": "5"})
    saved = owner.post(add, {"tenant": str(tenant_a.pk), "name": "api_key_failures_per_key", "value": "5"})

    assert (refused.status_code, unknown.status_code, saved.status_code) == (200, 200, 302)
    override = ThresholdOverride.objects.get()
    assert (override.tenant_id, override.name, override.value) == (tenant_a.pk, "api_key_failures_per_key", 5)
    event = AuditEvent.objects.get(action=AuditAction.SECURITY_THRESHOLD_CHANGED)
    assert (event.tenant_id, event.details) == (tenant_a.pk, {"name": "api_key_failures_per_key", "value": 5})


def test_security_alerts_latest_is_newest_first_and_scoped(tenant_a: Tenant, tenant_b: Tenant) -> None:
    first, second = raise_alert(tenant_a.pk, "a1"), raise_alert(tenant_a.pk, "a2")
    raise_alert(tenant_b.pk, "b")
    operator_wide = raise_alert(None, "o")

    assert [alert.pk for alert in security_alerts_latest(tenant_ids=[tenant_a.pk], limit=10)] == [second.pk, first.pk]
    assert [alert.pk for alert in security_alerts_latest(tenant_ids=[tenant_a.pk], limit=1)] == [second.pk]
    assert security_alerts_latest(tenant_ids=[], limit=10) == []
    assert security_alerts_latest(tenant_ids=None, limit=10)[0].pk == operator_wide.pk
    assert len(security_alerts_latest(tenant_ids=None, limit=10)) == 4


def test_security_alerts_count_is_per_severity_in_the_period(tenant_a: Tenant, tenant_b: Tenant) -> None:
    raise_alert(tenant_a.pk, "1", Severity.HIGH)
    raise_alert(tenant_a.pk, "2", Severity.HIGH)
    raise_alert(tenant_a.pk, "3", Severity.LOW)
    raise_alert(tenant_b.pk, "4", Severity.CRITICAL)
    old = raise_alert(tenant_a.pk, "5", Severity.CRITICAL)
    SecurityAlert.objects.filter(pk=old.pk).update(first_seen=timezone.now() - timedelta(days=40))
    now = timezone.now()

    counts = security_alerts_count(tenant_id=tenant_a.pk, start=now - timedelta(days=30), end=now + timedelta(hours=1))

    assert counts == {"low": 1, "medium": 0, "high": 2, "critical": 0}
