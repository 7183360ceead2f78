"""alert_raise: one open alert per detector and dedupe key, bumped by later raises; audited; listeners told."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.core.mail import EmailMessage
from django.utils import timezone

from accounts import security_alerts
from accounts.security_alerts import security_alert_email_deliver
from accounts.tasks import security_alert_email_task
from audit.alerts.listeners import AlertRaised, alert_notifier_register, alert_writer_register
from audit.alerts.models import AlertStatus, SecurityAlert, Severity, ThresholdOverride
from audit.alerts.services import AlertSpec, EvidenceError, alert_raise, alert_resolve, alerts_quiet_resolve
from audit.alerts.thresholds import thresholds_cache_clear
from audit.models import AuditAction, AuditEvent

TENANT = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
OTHER_TENANT = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000002")


def spec(**changes: Any) -> AlertSpec:
    fields: dict[str, Any] = {
        "detector": "test.detector",
        "dedupe_key": "app:1",
        "tenant_id": TENANT,
        "severity": Severity.MEDIUM,
        "title": "Something looks wrong",
        "evidence": {"app_id": "1", "failures": 20},
        "suggested_action": "Look into it.",
    }
    return AlertSpec(**(fields | changes))


@pytest.mark.django_db
def test_a_first_raise_opens_an_alert_and_audits_it(no_listeners: None) -> None:
    raised = alert_raise(spec=spec())

    alert = SecurityAlert.objects.get()
    assert raised.is_new is True
    assert (alert.pk, alert.tenant_id, alert.status, alert.occurrences) == (raised.alert.pk, TENANT, "open", 1)
    assert alert.evidence == {"app_id": "1", "failures": 20}
    event = AuditEvent.objects.get(action=AuditAction.SECURITY_ALERT_RAISED)
    assert (event.tenant_id, event.target_type, event.target_id) == (TENANT, "security_alert", str(alert.pk))
    assert event.details == {"detector": "test.detector", "severity": "medium", "app_id": "1", "failures": 20}


@pytest.mark.django_db
def test_raising_again_bumps_the_open_alert_without_a_second_audit_event(no_listeners: None) -> None:
    first = alert_raise(spec=spec())
    second = alert_raise(spec=spec(severity=Severity.HIGH, evidence={"failures": 45}))
    third = alert_raise(spec=spec(severity=Severity.LOW, evidence={"failures": 60}))

    alert = SecurityAlert.objects.get()
    assert (second.is_new, third.is_new) == (False, False)
    assert alert.pk == first.alert.pk
    assert alert.occurrences == 3
    assert alert.severity == Severity.HIGH  # never lowered by a later, milder raise
    assert alert.evidence == {"app_id": "1", "failures": 60}  # the latest counts
    assert alert.last_seen >= alert.first_seen
    assert AuditEvent.objects.filter(action=AuditAction.SECURITY_ALERT_RAISED).count() == 1


@pytest.mark.django_db
def test_another_dedupe_key_or_detector_opens_its_own_alert(no_listeners: None) -> None:
    alert_raise(spec=spec())
    alert_raise(spec=spec(dedupe_key="app:2"))
    alert_raise(spec=spec(detector="test.other"))

    assert SecurityAlert.objects.count() == 3


@pytest.mark.django_db
def test_after_resolving_a_new_burst_opens_a_new_alert(no_listeners: None) -> None:
    first = alert_raise(spec=spec()).alert
    actor = uuid.uuid4()

    assert alert_resolve(alert=first, actor_id=actor, actor_label="owner@example.com") is True
    assert alert_resolve(alert=first, actor_id=actor, actor_label="owner@example.com") is False
    second = alert_raise(spec=spec())

    first.refresh_from_db()
    assert (first.status, first.resolved_by_id, first.resolved_by_label) == (
        AlertStatus.RESOLVED,
        actor,
        "owner@example.com",
    )
    assert first.resolved_at is not None
    assert second.is_new is True and second.alert.pk != first.pk
    resolved = AuditEvent.objects.get(action=AuditAction.SECURITY_ALERT_RESOLVED)
    assert (resolved.target_id, resolved.actor_id) == (str(first.pk), actor)


@pytest.mark.django_db
def test_operator_wide_alerts_go_to_the_operator_chain(no_listeners: None) -> None:
    alert_raise(spec=spec(tenant_id=None))

    event = AuditEvent.objects.get(action=AuditAction.SECURITY_ALERT_RAISED)
    assert (event.chain, event.tenant_id) == ("operator", None)


@pytest.mark.parametrize(
    "evidence",
    [{"body": "x" * 65}, {"nested": {"text": "hello"}}, {"list": ["a"]}],
    ids=["long text", "nested", "list"],
)
@pytest.mark.django_db
def test_evidence_that_is_not_ids_and_counts_is_refused(no_listeners: None, evidence: dict[str, Any]) -> None:
    with pytest.raises(EvidenceError):
        alert_raise(spec=spec(evidence=evidence))

    assert SecurityAlert.objects.count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_writers_run_inside_the_transaction_and_notifiers_after_the_commit(
    no_listeners: None, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    heard: list[tuple[str, bool, int]] = []
    alert_writer_register(lambda raised: heard.append(("writer", raised.is_new, raised.alert.occurrences)))
    alert_notifier_register(lambda raised: heard.append(("notifier", raised.is_new, raised.alert.occurrences)))

    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(spec=spec())
        assert heard == [("writer", True, 1)]
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(spec=spec())

    assert heard == [("writer", True, 1), ("notifier", True, 1), ("writer", False, 2), ("notifier", False, 2)]


@pytest.mark.django_db
def test_a_failing_writer_rolls_the_alert_back(no_listeners: None) -> None:
    def broken(raised: AlertRaised) -> None:
        raise RuntimeError("outbox unavailable")

    alert_writer_register(broken)

    with pytest.raises(RuntimeError):
        alert_raise(spec=spec())

    assert SecurityAlert.objects.count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_failing_notifier_is_logged_by_class_and_the_others_still_run(
    no_listeners: None, django_capture_on_commit_callbacks: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[str] = []

    def broken(raised: AlertRaised) -> None:
        raise ConnectionRefusedError("smtp.example.com refused secret")

    alert_notifier_register(broken)
    alert_notifier_register(lambda raised: heard.append(str(raised.alert.pk)))

    with django_capture_on_commit_callbacks(execute=True):
        raised = alert_raise(spec=spec())

    assert heard == [str(raised.alert.pk)]
    record = next(record for record in caplog.records if record.message == "security alert notifier failed")
    assert record.error == "ConnectionRefusedError"  # type: ignore[attr-defined]
    assert "secret" not in caplog.text


@pytest.mark.django_db
def test_an_alert_gone_before_its_email_is_sent_is_not_emailed() -> None:
    assert security_alert_email_deliver(alert_id=uuid.uuid4()) == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_mail_server_that_refuses_leaves_the_email_to_a_retry(
    no_listeners: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []

    def refused(*args: object, **kwargs: object) -> int:
        attempts.append(1)
        raise smtplib.SMTPServerDisconnected("connection closed")

    monkeypatch.setattr(EmailMessage, "send", refused)
    monkeypatch.setattr(security_alerts, "security_alert_recipients", lambda **kwargs: ["owner@a.example"])
    alert_id = str(alert_raise(spec=spec()).alert.pk)

    with pytest.raises(Retry):
        security_alert_email_task.apply(args=(alert_id,), throw=True)

    assert len(attempts) == 1


@pytest.mark.django_db
def test_alerts_quiet_for_the_period_are_resolved_and_audited_the_others_stay_open(no_listeners: None) -> None:
    now = timezone.now()
    quiet = alert_raise(spec=spec(dedupe_key="app:quiet")).alert
    recent = alert_raise(spec=spec(dedupe_key="app:recent")).alert
    kept = alert_raise(spec=spec(dedupe_key="app:kept", tenant_id=OTHER_TENANT)).alert
    SecurityAlert.objects.filter(pk__in=[quiet.pk, kept.pk]).update(last_seen=now - timedelta(hours=25))
    SecurityAlert.objects.filter(pk=recent.pk).update(last_seen=now - timedelta(hours=23))
    ThresholdOverride.objects.create(tenant_id=OTHER_TENANT, name="alert_quiet_resolve_hours", value=0)
    thresholds_cache_clear()

    assert alerts_quiet_resolve(now=now) == 1

    statuses = dict(SecurityAlert.objects.values_list("dedupe_key", "status"))
    assert statuses == {"app:quiet": AlertStatus.RESOLVED, "app:recent": AlertStatus.OPEN, "app:kept": AlertStatus.OPEN}
    resolved = AuditEvent.objects.get(action=AuditAction.SECURITY_ALERT_RESOLVED)
    assert (resolved.target_id, resolved.actor_label) == (str(quiet.pk), "resolved after 24 h without a new occurrence")


@pytest.mark.django_db
def test_an_alert_bumped_after_the_quiet_check_stays_open(no_listeners: None) -> None:
    alert = alert_raise(spec=spec()).alert

    assert not alert_resolve(alert=alert, actor_id=None, actor_label="quiet", quiet_since=alert.last_seen)
    assert SecurityAlert.objects.get(pk=alert.pk).status == AlertStatus.OPEN
