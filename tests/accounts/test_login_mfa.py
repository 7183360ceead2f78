from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.mfa import backup_codes_issue, totp_device_provision, totp_secret_base32
from accounts.models import BackupCode, TotpDevice, User
from audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD, totp_code, verify_session
from tests.database_text import tables_holding

pytestmark = pytest.mark.django_db
ADMIN = "/admin/"
ENROL = "/account/enrol/?next=%2Fadmin%2F"
BACKUP_CODES = "/account/enrol/backup-codes/?next=%2Fadmin%2F"


def _login(client: Client, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(reverse("accounts:login"), {"email": email, "password": password, "next": ADMIN}, **extra)


def _events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def _codes_in(response: Any) -> list[str]:
    return re.findall(r"<li>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</li>", response.content.decode())


def _shows_seed(response: Any, device: TotpDevice) -> bool:
    page = response.content.decode()
    return totp_secret_base32(device) in page or "otpauth://" in page


def _enrol_start(client: Client) -> Any:
    return client.post(ENROL, {"start": "1", "next": ADMIN})


def test_user_without_device_is_forced_through_enrolment_then_reaches_admin(operator: User) -> None:
    client = Client()
    response = _login(client, operator.email)
    assert response.status_code == 302
    assert response["Location"] == ENROL
    assert client.get(ADMIN)["Location"].startswith("/admin/login/")  # password alone opens nothing

    intro = client.get(ENROL)
    assert (intro.status_code, "otpauth://" in intro.content.decode()) == (200, False)
    assert not TotpDevice.objects.filter(user=operator).exists()  # a GET makes no key
    started = _enrol_start(client)
    assert (started.status_code, started["Location"]) == (303, ENROL)
    device = TotpDevice.objects.get(user=operator, confirmed=False)
    shown = client.get(started["Location"])
    assert _shows_seed(shown, device) and "no-store" in shown["Cache-Control"]
    reloaded = client.get(started["Location"])
    assert not _shows_seed(reloaded, device) and "already shown" in reloaded.content.decode()

    confirmed = client.post(ENROL, {"token": totp_code(device), "next": ADMIN})

    assert (confirmed.status_code, confirmed["Location"]) == (303, BACKUP_CODES)
    assert _codes_in(confirmed) == []
    codes_page = client.get(confirmed["Location"])
    assert len(set(_codes_in(codes_page))) == 10 and "no-store" in codes_page["Cache-Control"]
    again = client.get(confirmed["Location"])
    assert (again.status_code, _codes_in(again)) == (200, [])
    assert "already shown" in again.content.decode() and "no-store" in again["Cache-Control"]
    assert client.get(ADMIN).status_code == 200
    assert _events(AuditAction.MFA_ENROLLED) == 1
    assert _events(AuditAction.BACKUP_CODES_ISSUED) == 1
    assert _events(AuditAction.LOGIN_SUCCEEDED) == 1
    assert BackupCode.objects.filter(device__user=operator).count() == 10


def test_enrolment_secrets_are_never_stored_in_plaintext(operator: User) -> None:
    client = Client()
    _login(client, operator.email)
    _enrol_start(client)
    device = TotpDevice.objects.get(user=operator, confirmed=False)
    seed = totp_secret_base32(device)
    assert (tables_holding(seed), tables_holding(device.key)) == ([], [])
    client.get(ENROL)

    confirmed = client.post(ENROL, {"token": totp_code(device), "next": ADMIN})
    codes = _codes_in(client.get(confirmed["Location"]))

    assert len(codes) == 10
    assert seed not in confirmed["Location"]
    assert [tables_holding(code.replace("-", "")) for code in codes] == [[]] * 10
    assert (tables_holding(seed), tables_holding(device.key)) == ([], [])


def test_a_new_setup_key_replaces_the_one_shown(operator: User) -> None:
    client = Client()
    _login(client, operator.email)
    _enrol_start(client)
    first = TotpDevice.objects.get(user=operator, confirmed=False)
    client.get(ENROL)

    _enrol_start(client)
    second = TotpDevice.objects.get(user=operator, confirmed=False)
    shown = client.get(ENROL)

    assert first.pk != second.pk and totp_secret_base32(first) != totp_secret_base32(second)
    assert _shows_seed(shown, second) and totp_secret_base32(first) not in shown.content.decode()
    refused = client.post(ENROL, {"token": totp_code(first), "next": ADMIN})
    assert refused.status_code == 200 and not TotpDevice.objects.filter(confirmed=True).exists()
    assert not _shows_seed(refused, second)


def test_a_wrong_enrolment_code_shows_no_seed_and_issues_no_codes(operator: User) -> None:
    client = Client()
    _login(client, operator.email)
    _enrol_start(client)
    device = TotpDevice.objects.get(user=operator, confirmed=False)
    client.get(ENROL)

    refused = client.post(ENROL, {"token": "000000" if totp_code(device) != "000000" else "111111", "next": ADMIN})

    assert refused.status_code == 200 and not _shows_seed(refused, device)
    assert BackupCode.objects.count() == 0 and _events(AuditAction.BACKUP_CODES_ISSUED) == 0
    assert client.get(BACKUP_CODES).content.decode().count("<li>") == 0


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
