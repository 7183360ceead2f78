"""Admin login: password and second-factor failure bursts, credential stuffing, and a success right after a burst."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import TotpDevice, User
from audit.alerts.detectors import logins as login_detectors
from audit.alerts.detectors.logins import (
    ACCOUNT_DETECTOR,
    OTP_DETECTOR,
    STUFFING_DETECTOR,
    SUCCESS_DETECTOR,
)
from audit.alerts.models import SecurityAlert
from tests.conftest import PASSWORD, totp_code
from tests.security.support import DetectionClock, alerts_of, detection_settings

pytestmark = pytest.mark.django_db
WINDOW = 900


@pytest.fixture(autouse=True)
def _thresholds(settings: pytest.FixtureRequest) -> None:
    detection_settings(
        settings,
        login_window_seconds=WINDOW,
        login_failures_per_account=10,
        otp_failures_per_account=10,
        login_accounts_per_network=10,
        login_success_after_burst_seconds=3600,
    )


def login(email: str, password: str, *, address: str = "192.0.2.10", client: Client | None = None) -> int:
    client = client or Client()
    data = {"email": email, "password": password, "next": "/admin/"}
    return client.post(reverse("accounts:login"), data, REMOTE_ADDR=address).status_code


def otp(client: Client, code: str, *, address: str = "192.0.2.10") -> int:
    return client.post(reverse("accounts:otp"), {"token": code, "next": "/admin/"}, REMOTE_ADDR=address).status_code


def test_a_password_burst_on_one_account_raises_one_alert_counting_throttled_attempts(
    operator: User, clock: DetectionClock, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [login(operator.email, "wrong password") for _ in range(14)]

    alert = SecurityAlert.objects.get()
    assert statuses == [200] * 5 + [429] * 9  # the throttle stops checking after five; the detector still counts
    assert (alert.detector, alert.tenant_id, alert.severity, alert.occurrences) == (ACCOUNT_DETECTOR, None, "medium", 1)
    assert alert.evidence == {
        "user_id": str(operator.pk),
        "failures": 10,
        "window_seconds": WINDOW,
        "last_network": "192.0.2.0/24",
    }
    assert operator.email not in str(alert.evidence) and "wrong password" not in str(alert.evidence)
    assert [message.bcc for message in mail.outbox] == [[operator.email]]  # operators hear of operator-wide alerts


def test_an_unknown_address_is_named_by_a_hash(db: None, clock: DetectionClock) -> None:
    for _ in range(10):
        login("nobody@example.com", "guess")

    alert = SecurityAlert.objects.get()
    assert set(alert.evidence) == {"account", "failures", "window_seconds", "last_network"}
    assert alert.evidence["account"].startswith("account:")
    assert "nobody" not in alert.evidence["account"]


def test_failures_across_many_accounts_from_one_network_are_credential_stuffing(
    operator: User, clock: DetectionClock
) -> None:
    for index in range(12):
        login(f"victim{index}@example.com", "Summer2024!", address=f"203.0.113.{index + 1}")
    login("elsewhere@example.com", "Summer2024!", address="198.51.100.1")

    alert = SecurityAlert.objects.get()
    assert (alert.detector, alert.tenant_id, alert.severity) == (STUFFING_DETECTOR, None, "high")
    assert alert.evidence == {"network": "203.0.113.0/24", "accounts": 10}


def test_a_successful_login_from_a_stuffing_network_raises_a_critical_alert_once(
    operator: User, clock: DetectionClock
) -> None:
    for index in range(10):
        login(f"victim{index}@example.com", "Summer2024!", address="203.0.113.50")

    assert login(operator.email, PASSWORD, address="203.0.113.77") == 302
    assert login(operator.email, PASSWORD, address="203.0.113.77") == 302

    alert = alerts_of(SUCCESS_DETECTOR)
    assert len(alert) == 1
    assert (alert[0].severity, alert[0].occurrences) == ("critical", 1)
    assert alert[0].evidence == {
        "user_id": str(operator.pk),
        "network": "203.0.113.0/24",
        "after_burst_on": "network",
    }


def test_a_successful_login_right_after_a_burst_on_the_account_raises_a_critical_alert(
    operator: User, clock: DetectionClock
) -> None:
    for _ in range(10):  # the burst, past the page's throttle (whose cool-off would refuse the success below)
        login_detectors.login_failed(account=operator.email, ip="198.51.100.9", user_id_of=lambda: operator.pk)

    assert login(operator.email, PASSWORD, address="192.0.2.44") == 302

    assert [alert.evidence["after_burst_on"] for alert in alerts_of(SUCCESS_DETECTOR)] == ["account"]


def test_a_burst_of_wrong_codes_after_the_password_raises_one_high_alert(
    operator: User, operator_device: TotpDevice, clock: DetectionClock
) -> None:
    client = Client()
    assert login(operator.email, PASSWORD, client=client) == 302

    statuses = [otp(client, "000000") for _ in range(12)]

    alert = SecurityAlert.objects.get()
    assert statuses == [200] * 5 + [429] * 7
    assert (alert.detector, alert.severity) == (OTP_DETECTOR, "high")
    assert alert.evidence == {
        "user_id": str(operator.pk),
        "failures": 10,
        "window_seconds": WINDOW,
        "last_network": "192.0.2.0/24",
    }


def test_a_right_code_after_a_burst_of_wrong_ones_raises_a_critical_alert(
    operator: User, operator_device: TotpDevice, clock: DetectionClock
) -> None:
    for _ in range(10):
        login_detectors.otp_failed(user_id=operator.pk, ip="198.51.100.9")
    client = Client()
    login(operator.email, PASSWORD, client=client)

    assert otp(client, totp_code(operator_device)) == 302

    assert [alert.evidence["after_burst_on"] for alert in alerts_of(SUCCESS_DETECTOR)] == ["user"]


def test_normal_logins_with_a_few_typos_raise_nothing(
    operator: User, operator_device: TotpDevice, clock: DetectionClock
) -> None:
    staff = [User.objects.create_user(f"staff{index}@example.com", PASSWORD, is_staff=True) for index in range(5)]
    for user in staff:  # an office behind one address: a typo each, then in
        assert login(user.email, "typo", address="192.0.2.80") == 200
        assert login(user.email, PASSWORD, address="192.0.2.80") == 302
    client = Client()
    for _ in range(3):
        login(operator.email, "typo", client=client)
    login(operator.email, PASSWORD, client=client)
    otp(client, "123456")
    assert otp(client, totp_code(operator_device)) == 302

    assert SecurityAlert.objects.count() == 0
