"""Login and OTP throttles under concurrency, per account and per client IP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import TotpDevice, User
from audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def _in_parallel(count: int, call: Callable[[int], int]) -> Counter[int]:
    def run(index: int) -> int:
        try:
            return call(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        return Counter(pool.map(run, range(count)))


def _post_login(email: str, password: str, **headers: Any) -> int:
    return Client().post(reverse("accounts:login"), {"email": email, "password": password}, **headers).status_code


def test_fifty_concurrent_wrong_passwords_reach_the_check_exactly_five_times(operator: User, settings) -> None:
    statuses = _in_parallel(50, lambda _: _post_login(operator.email, "wrong password"))

    assert statuses == Counter({200: settings.THROTTLE_ACCOUNT_ATTEMPTS, 429: 50 - settings.THROTTLE_ACCOUNT_ATTEMPTS})
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 5
    assert AuditEvent.objects.filter(action=AuditAction.LOCKOUT).count() == 1


def test_cooling_off_refuses_even_the_right_password_with_retry_after(operator: User) -> None:
    for _ in range(6):
        _post_login(operator.email, "wrong password")

    response = Client().post(reverse("accounts:login"), {"email": operator.email, "password": PASSWORD})

    assert response.status_code == 429
    assert int(response["Retry-After"]) == 60
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_SUCCEEDED).count() == 0


def test_fifty_concurrent_wrong_otps_are_evaluated_exactly_five_times(
    operator: User, operator_device: TotpDevice
) -> None:
    clients = [Client() for _ in range(50)]
    for client in clients:
        client.force_login(operator)

    statuses = _in_parallel(
        50, lambda index: clients[index].post(reverse("accounts:otp"), {"token": "000000"}).status_code
    )

    assert statuses == Counter({200: 5, 429: 45})
    assert AuditEvent.objects.filter(action=AuditAction.OTP_FAILED).count() == 5
    assert AuditEvent.objects.filter(action=AuditAction.LOCKOUT).count() == 1


def test_spoofed_forwarded_for_does_not_dodge_the_ip_counter(db, settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    emails = [f"user{index}@gateway.example" for index in range(30)]

    statuses = [
        _post_login(email, "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{index}") for index, email in enumerate(emails)
    ]

    assert statuses.count(200) == settings.THROTTLE_IP_ATTEMPTS
    assert statuses.count(429) == 30 - settings.THROTTLE_IP_ATTEMPTS


def test_behind_one_proxy_only_the_address_it_appended_counts(db, settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    forged_prefixes = [f"203.0.113.{index}, 198.51.100.7" for index in range(25)]

    statuses = [
        _post_login(f"u{index}@gateway.example", "wrong", HTTP_X_FORWARDED_FOR=header)
        for index, header in enumerate(forged_prefixes)
    ]

    assert statuses.count(200) == settings.THROTTLE_IP_ATTEMPTS
    other_client = _post_login("someone@gateway.example", "wrong", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert other_client == 200


def test_success_clears_the_account_counter(operator: User) -> None:
    for _ in range(4):
        _post_login(operator.email, "wrong password")
    assert _post_login(operator.email, PASSWORD) == 302

    statuses = [_post_login(operator.email, "wrong password") for _ in range(5)]

    assert statuses == [200] * 5
