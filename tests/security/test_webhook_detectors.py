"""Webhook edge: forged signatures on a tenant's app above its baseline, and probing of unknown app keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core import mail
from django.test import Client

from accounts.actors import CLI_ACTOR
from accounts.models import Membership, Role, Tenant, User
from audit.alerts.detectors import webhooks as webhook_detectors
from audit.alerts.detectors.webhooks import PROBING_DETECTOR, SIGNATURE_DETECTOR
from audit.alerts.history import hourly_count_add
from audit.alerts.models import HourlyCount, SecurityAlert
from audit.alerts.selectors import SIGNATURE_FAILURES_METRIC, signature_failures_count
from audit.models import AuditAction, AuditEvent
from events.models import Endpoint, Event
from messaging.business_events import EventType
from messaging.channels import meta_app_register
from messaging.models import MetaApp
from tests.conftest import PASSWORD
from tests.security.support import START, DetectionClock, alerts_of, detection_settings
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db
SECRET_A = "a" * 32
SECRET_B = "b" * 32
BODY = (Path(__file__).resolve().parents[1] / "fixtures" / "meta" / "whatsapp_text.json").read_bytes()
FORGED = signature_for("not the app secret", BODY)
WINDOW = 600


@pytest.fixture(autouse=True)
def _thresholds(settings: pytest.FixtureRequest) -> None:
    detection_settings(
        settings,
        webhook_signature_failures_window_seconds=WINDOW,
        webhook_signature_failures_min=20,
        webhook_signature_failures_factor=5,
        unknown_app_key_distinct=10,
        baseline_days=7,
    )


@pytest.fixture
def app_a(tenant_a: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant_a, name="A app", app_secret=SECRET_A, actor=CLI_ACTOR).meta_app


@pytest.fixture
def app_b(tenant_b: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant_b, name="B app", app_secret=SECRET_B, actor=CLI_ACTOR).meta_app


def post(app_key: str, signature: str | None, *, address: str = "203.0.113.7") -> int:
    headers: dict[str, Any] = {"REMOTE_ADDR": address}
    if signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return Client().post(f"/webhooks/meta/{app_key}/", BODY, content_type="application/json", **headers).status_code


def tenant_of(app: MetaApp) -> uuid.UUID:
    assert app.tenant_id is not None
    return app.tenant_id


def member(tenant: Tenant, email: str, role: Role) -> User:
    user = User.objects.create_user(email, PASSWORD, is_staff=True)
    Membership.objects.create(tenant=tenant, user=user, role=role)
    return user


def test_a_burst_of_forged_webhooks_raises_one_alert_and_a_second_burst_bumps_it(
    app_a: MetaApp, clock: DetectionClock, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        statuses = {post(app_a.app_key, FORGED) for _ in range(30)}

    alert = SecurityAlert.objects.get()
    assert statuses == {401}
    assert (alert.detector, alert.tenant_id, alert.severity, alert.occurrences) == (
        SIGNATURE_DETECTOR,
        app_a.tenant_id,
        "high",
        1,
    )
    assert alert.evidence == {
        "meta_app_id": str(app_a.pk),
        "failures": 20,
        "window_seconds": WINDOW,
        "expected_failures": 0,
    }
    assert AuditEvent.objects.filter(action=AuditAction.SECURITY_ALERT_RAISED, tenant_id=app_a.tenant_id).count() == 1

    clock.advance(WINDOW + WINDOW / 6 + 1)
    for _ in range(20):
        post(app_a.app_key, FORGED)

    alert.refresh_from_db()
    assert SecurityAlert.objects.count() == 1
    assert alert.occurrences == 2


def test_below_the_minimum_nothing_is_raised(app_a: MetaApp, clock: DetectionClock) -> None:
    for _ in range(19):
        post(app_a.app_key, FORGED)

    assert SecurityAlert.objects.count() == 0
    assert signature_failures_count(tenant_id=tenant_of(app_a), start=START - timedelta(hours=1), end=START) == 19


def test_an_app_that_usually_sees_failures_alerts_only_far_above_its_baseline(
    app_a: MetaApp, clock: DetectionClock
) -> None:
    for hours_ago in range(1, 7 * 24 + 1):  # 60 failures every hour of the past week: 10 expected per window
        row_hour = START - timedelta(hours=hours_ago)
        HourlyCount.objects.create(
            metric=SIGNATURE_FAILURES_METRIC, subject=str(app_a.pk), tenant_id=app_a.tenant_id, hour=row_hour, count=60
        )
    for _ in range(49):  # past the minimum of 20, but not five times the usual 10
        post(app_a.app_key, FORGED)
    assert SecurityAlert.objects.count() == 0

    post(app_a.app_key, FORGED)

    assert [alert.evidence for alert in alerts_of(SIGNATURE_DETECTOR)] == [
        {"meta_app_id": str(app_a.pk), "failures": 50, "window_seconds": WINDOW, "expected_failures": 10}
    ]


def test_a_tenant_override_raises_the_minimum_for_that_tenant_only(
    app_a: MetaApp, app_b: MetaApp, clock: DetectionClock
) -> None:
    from audit.alerts.models import ThresholdOverride

    ThresholdOverride.objects.create(tenant_id=tenant_of(app_a), name="webhook_signature_failures_min", value=50)
    for _ in range(30):
        post(app_a.app_key, FORGED)
        post(app_b.app_key, FORGED)

    assert [alert.tenant_id for alert in SecurityAlert.objects.all()] == [app_b.tenant_id]


def test_normal_signed_traffic_raises_nothing_and_counts_nothing(app_a: MetaApp, clock: DetectionClock) -> None:
    statuses = {post(app_a.app_key, signature_for(SECRET_A, BODY)) for _ in range(60)}

    assert statuses == {200}
    assert SecurityAlert.objects.count() == 0
    assert HourlyCount.objects.count() == 0


def test_signature_failures_count_covers_the_tenants_own_apps_and_period(
    app_a: MetaApp, app_b: MetaApp, clock: DetectionClock
) -> None:
    for _ in range(3):
        post(app_a.app_key, FORGED)
    post(app_b.app_key, FORGED)
    hourly_count_add(
        metric=SIGNATURE_FAILURES_METRIC,
        subject=str(app_a.pk),
        tenant_id=app_a.tenant_id,
        now=START - timedelta(days=2),
    )

    today = START.replace(hour=0, minute=0, second=0)
    assert signature_failures_count(tenant_id=tenant_of(app_a), start=today, end=today + timedelta(days=1)) == 3
    assert signature_failures_count(tenant_id=tenant_of(app_a), start=today - timedelta(days=3), end=today) == 1
    assert signature_failures_count(tenant_id=tenant_of(app_b), start=today, end=today + timedelta(days=1)) == 1


def test_the_alert_is_emailed_to_that_tenants_owners_and_admins_only(
    app_a: MetaApp,
    tenant_a: Tenant,
    tenant_b: Tenant,
    clock: DetectionClock,
    django_capture_on_commit_callbacks: Callable[..., Any],
    published_emails: list[tuple[str, ...]],
) -> None:
    member(tenant_a, "owner@a.example", Role.OWNER)
    member(tenant_a, "admin@a.example", Role.ADMIN)
    member(tenant_a, "agent@a.example", Role.AGENT)
    member(tenant_a, "auditor@a.example", Role.AUDITOR)
    member(tenant_b, "owner@b.example", Role.OWNER)
    inactive = member(tenant_a, "former@a.example", Role.ADMIN)
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    User.objects.create_superuser("operator@gateway.example", PASSWORD)

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(25):
            post(app_a.app_key, FORGED)

    assert len(mail.outbox) == 1
    assert published_emails == [(str(SecurityAlert.objects.get().pk),)]  # the broker carries the alert's id only
    message = mail.outbox[0]
    assert (message.to, message.bcc) == ([], ["admin@a.example", "owner@a.example"])
    assert "Webhooks with a bad signature" in message.subject
    assert str(app_a.pk) in message.body
    assert SECRET_A not in message.body and BODY.decode() not in message.body


def test_the_alert_is_written_as_a_security_alert_event_for_the_tenants_endpoints(
    app_a: MetaApp, clock: DetectionClock
) -> None:
    Endpoint.objects.create(
        tenant_id=tenant_of(app_a),
        url="http://127.0.0.1:9/hook",
        event_types=[EventType.SECURITY_ALERT.value],
        secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    for _ in range(40):
        post(app_a.app_key, FORGED)

    alert = SecurityAlert.objects.get()
    event = Event.objects.get(type=EventType.SECURITY_ALERT)
    assert event.tenant_id == app_a.tenant_id
    assert event.facts == {
        "alert": str(alert.pk),
        "detector": SIGNATURE_DETECTOR,
        "severity": "high",
        "title": alert.title,
        "suggested_action": alert.suggested_action,
    }
    assert event.deliveries.count() == 1


def test_probing_unknown_app_keys_from_one_address_raises_one_operator_alert(
    app_a: MetaApp, clock: DetectionClock, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    User.objects.create_superuser("operator@gateway.example", PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        statuses = {post(f"made-up-key-{index}", FORGED, address="198.51.100.20") for index in range(15)}
        statuses |= {post(f"made-up-key-{index}", FORGED, address="198.51.100.21") for index in range(3)}

    alert = SecurityAlert.objects.get()
    assert statuses == {401}
    assert (alert.detector, alert.tenant_id, alert.severity) == (PROBING_DETECTOR, None, "medium")
    assert alert.evidence == {"address": "198.51.100.20", "network": "198.51.100.0/24", "unknown_app_keys": 10}
    assert "made-up-key" not in str(alert.evidence)
    assert [message.bcc for message in mail.outbox] == [["operator@gateway.example"]]


def test_the_same_unknown_key_again_and_again_is_not_probing(clock: DetectionClock) -> None:
    for _ in range(30):
        post("one-stale-key", FORGED, address="198.51.100.20")

    assert SecurityAlert.objects.count() == 0


def test_a_redis_outage_skips_detection_and_still_answers_401(
    app_a: MetaApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unreachable(**kwargs: Any) -> int:
        raise redis.exceptions.ConnectionError("redis://:password@redis:6379 unreachable")

    monkeypatch.setattr(webhook_detectors, "window_count", unreachable)
    monkeypatch.setattr(webhook_detectors, "distinct_count", unreachable)

    assert post(app_a.app_key, FORGED) == 401
    assert post("made-up-key", FORGED) == 401
    assert SecurityAlert.objects.count() == 0
    skipped = [getattr(record, "detector", None) for record in caplog.records if record.message.startswith("detection")]
    assert skipped == [
        SIGNATURE_DETECTOR,
        PROBING_DETECTOR,
    ]
    assert "password" not in caplog.text


def test_another_error_in_a_detector_is_not_swallowed(app_a: MetaApp, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> int:
        raise ValueError("a bug")

    monkeypatch.setattr(webhook_detectors, "window_count", broken)

    with pytest.raises(ValueError, match="a bug"):
        post(app_a.app_key, FORGED)
