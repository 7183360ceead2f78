from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.mfa import backup_codes_issue, totp_device_provision
from accounts.models import BackupCode, TotpDevice, User
from audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD, totp_code, verify_session

pytestmark = pytest.mark.django_db
ADMIN = "/admin/"


def _login(client: Client, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(reverse("accounts:login"), {"email": email, "password": password, "next": ADMIN}, **extra)


def _events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def test_user_without_device_is_forced_through_enrolment_then_reaches_admin(operator: User) -> None:
    client = Client()
    response = _login(client, operator.email)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:enrol"))
    assert client.get(ADMIN)["Location"].startswith("/admin/login/")  # password alone opens nothing

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"otpauth://" not in page.content or b"secret=" in page.content
    device = TotpDevice.objects.get(user=operator, confirmed=False)
    confirmed = client.post(response["Location"], {"token": totp_code(device), "next": ADMIN})

    assert confirmed.status_code == 200
    codes = re.findall(r"<li>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</li>", confirmed.content.decode())
    assert len(codes) == 10
    assert confirmed["Cache-Control"].startswith("max-age=0")
    assert client.get(ADMIN).status_code == 200
    assert _events(AuditAction.MFA_ENROLLED) == 1
    assert _events(AuditAction.BACKUP_CODES_ISSUED) == 1
    assert _events(AuditAction.LOGIN_SUCCEEDED) == 1


def test_enrolled_user_logs_in_with_totp(operator: User, operator_device: TotpDevice) -> None:
    client = Client()
    response = _login(client, operator.email)
    assert response["Location"].startswith(reverse("accounts:otp"))
    session_key_before = client.session.session_key

    verified = client.post(response["Location"], {"token": totp_code(operator_device), "next": ADMIN})

    assert verified.status_code == 302
    assert verified["Location"] == ADMIN
    assert client.session.session_key != session_key_before  # cycled after OTP
    assert client.get(ADMIN).status_code == 200
    assert _events(AuditAction.MFA_VERIFIED) == 1


def test_totp_code_cannot_be_replayed(operator: User, operator_device: TotpDevice) -> None:
    code = totp_code(operator_device)
    first, second = Client(), Client()
    for client in (first, second):
        _login(client, operator.email)

    assert first.post(reverse("accounts:otp"), {"token": code, "next": ADMIN}).status_code == 302
    refused = second.post(reverse("accounts:otp"), {"token": code, "next": ADMIN})

    assert refused.status_code == 200
    assert b"not valid" in refused.content
    assert second.get(ADMIN).status_code == 302
    assert _events(AuditAction.OTP_FAILED) == 1


def test_wrong_password_is_refused_and_audited_without_revealing_which_part(operator: User) -> None:
    client = Client()
    wrong_password = _login(client, operator.email, "not the password")
    unknown_user = _login(client, "nobody@gateway.example", "not the password")

    for response in (wrong_password, unknown_user):
        assert response.status_code == 200
        assert b"Email or password is incorrect." in response.content
    assert _events(AuditAction.LOGIN_FAILED) == 2
    assert "_auth_user_id" not in client.session


def test_backup_code_logs_in_once_and_is_stored_hashed(operator: User, operator_device: TotpDevice) -> None:
    codes = backup_codes_issue(user=operator)
    stored = list(BackupCode.objects.values_list("code_hash", flat=True))
    normalized = [code.replace("-", "") for code in codes]
    assert not any(plain in digest for plain in normalized for digest in stored)

    first, second = Client(), Client()
    _login(first, operator.email)
    _login(second, operator.email)
    assert first.post(reverse("accounts:otp"), {"token": codes[3], "next": ADMIN}).status_code == 302
    assert second.post(reverse("accounts:otp"), {"token": codes[3], "next": ADMIN}).status_code == 200

    assert BackupCode.objects.filter(used_at__isnull=False).count() == 1
    assert _events(AuditAction.BACKUP_CODE_USED) == 1


def test_step_up_page_refreshes_the_verification_time(operator: User, operator_device: TotpDevice) -> None:
    client = Client()
    client.force_login(operator)
    verify_session(client, operator_device, verified_seconds_ago=3600)

    page = client.get(reverse("accounts:step_up"), {"next": ADMIN})
    assert b"Confirm it" in page.content
    response = client.post(reverse("accounts:step_up"), {"token": totp_code(operator_device), "next": ADMIN})

    assert response.status_code == 302
    assert _events(AuditAction.STEP_UP) == 1


def test_next_parameter_cannot_redirect_off_site(operator: User, operator_device: TotpDevice) -> None:
    client = Client()
    response = client.post(
        reverse("accounts:login"), {"email": operator.email, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert "evil.example" not in response["Location"]


def test_logout_ends_the_session_and_is_audited(operator_client: Client) -> None:
    response = operator_client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert operator_client.get(ADMIN).status_code == 302
    assert _events(AuditAction.LOGOUT) == 1


def test_verified_non_staff_user_sees_no_access_instead_of_a_loop(tenant_a) -> None:
    agent = User.objects.create_user("agent@a.example", PASSWORD)
    device = totp_device_provision(user=agent)
    client = Client()
    client.force_login(agent)
    verify_session(client, device)

    response = client.get(ADMIN, follow=True)

    assert response.status_code == 403
    assert b"no access to the administration site" in response.content


def test_session_ends_at_its_absolute_lifetime(operator_client: Client, settings) -> None:
    assert operator_client.get(ADMIN).status_code == 200
    session = operator_client.session
    session["session_started_at"] -= settings.SESSION_ABSOLUTE_SECONDS + 1
    session.save()

    assert operator_client.get(ADMIN).status_code == 302


def test_session_cookie_flags_in_production_configuration(settings, operator: User, operator_device) -> None:
    settings.SESSION_COOKIE_SECURE = True
    settings.SESSION_COOKIE_NAME = "__Host-sessionid"
    client = Client()
    _login(client, operator.email)
    cookie = client.cookies["__Host-sessionid"]

    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == "" or int(cookie["max-age"]) <= settings.SESSION_IDLE_SECONDS
