"""Passkeys (WebAuthn) as the admin's second factor: registration and assertion ceremonies against the real
endpoints, with responses made by a software authenticator (tests/accounts/soft_authenticator.py). Refused: user
verification missing, another origin or RP ID whatever the request's Host and Origin say (A8), a repeated signature
counter; throttled with the OTP throttle; audited like codes are."""

from __future__ import annotations

import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp_webauthn.models import WebAuthnCredential
from webauthn.helpers import bytes_to_base64url

from accounts.mfa import backup_codes_issue, totp_device_provision
from accounts.models import TotpDevice, User
from audit.models import AuditAction, AuditEvent
from tests.accounts.soft_authenticator import ORIGIN, RP_ID, SoftAuthenticator
from tests.conftest import PASSWORD, totp_code, verify_session

pytestmark = pytest.mark.django_db

REGISTER_BEGIN = "/account/passkeys/registration/begin/"
REGISTER_COMPLETE = "/account/passkeys/registration/complete/"
AUTH_BEGIN = "/account/passkeys/authentication/begin/"
AUTH_COMPLETE = "/account/passkeys/authentication/complete/"
ADMIN = "/admin/"
SECURITY = "/account/security/"
STALE_SECONDS = 660  # past the 10-minute step-up window


@pytest.fixture(autouse=True)
def relying_party(settings: Any) -> None:
    """The RP ID and origins come from settings only; pinned whatever the environment running the tests sets."""
    settings.OTP_WEBAUTHN_RP_ID = RP_ID
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [ORIGIN]
    settings.STEP_UP_SECONDS = 600


def _verified_client(user: User, device: TotpDevice, *, seconds_ago: float = 0) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, device, verified_seconds_ago=seconds_ago)
    return client


def _register(client: Client, authenticator: SoftAuthenticator) -> Any:
    options = client.post(REGISTER_BEGIN).json()
    return client.post(REGISTER_COMPLETE, authenticator.registration(options), content_type="application/json")


def _authenticate(client: Client, authenticator: SoftAuthenticator, **headers: str) -> Any:
    query = urlencode({"next": ADMIN})
    options = client.post(f"{AUTH_BEGIN}?{query}").json()
    return client.post(
        f"{AUTH_COMPLETE}?{query}", authenticator.assertion(options), content_type="application/json", headers=headers
    )


def _password_only(user: User) -> Client:
    client = Client()
    response = client.post(reverse("accounts:login"), {"email": user.email, "password": PASSWORD, "next": ADMIN})
    assert response.status_code == 302
    return client


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


@pytest.fixture
def passkey(operator: User, operator_device: TotpDevice) -> SoftAuthenticator:
    """The operator's passkey, registered through the endpoints from a freshly verified session."""
    authenticator = SoftAuthenticator()
    assert _register(_verified_client(operator, operator_device), authenticator).status_code == 200
    return authenticator


def test_registration_stores_the_passkey_and_audits_it_without_credential_material(
    operator: User, operator_device: TotpDevice
) -> None:
    authenticator = SoftAuthenticator()

    response = _register(_verified_client(operator, operator_device), authenticator)

    assert response.status_code == 200
    credential = WebAuthnCredential.objects.get(user=operator)
    assert credential.name == "Passkey 1"
    [event] = _events(AuditAction.PASSKEY_REGISTERED)
    assert event.actor_id == operator.pk
    assert event.details == {"passkey": credential.pk}


def test_both_ceremonies_ask_for_user_verification(
    operator: User, operator_device: TotpDevice, passkey: SoftAuthenticator
) -> None:
    registration = _verified_client(operator, operator_device).post(REGISTER_BEGIN).json()
    authentication = _password_only(operator).post(AUTH_BEGIN).json()

    assert registration["authenticatorSelection"]["userVerification"] == "required"
    assert registration["rp"] == {"id": RP_ID, "name": "Meta gateway"}
    assert authentication["userVerification"] == "required"
    assert authentication["rpId"] == RP_ID
    assert [each["id"] for each in authentication["allowCredentials"]] == [
        passkey.registration({"challenge": ""})["id"]
    ]


def test_registration_without_user_verification_is_refused(operator: User, operator_device: TotpDevice) -> None:
    response = _register(_verified_client(operator, operator_device), SoftAuthenticator(user_verified=False))

    assert response.status_code == 422
    assert not WebAuthnCredential.objects.exists()
    [event] = _events(AuditAction.PASSKEY_REGISTRATION_FAILED)
    assert event.details == {"reason": "invalid_registration_response"}


@pytest.mark.parametrize("seconds_ago", [STALE_SECONDS, None])
def test_registration_needs_a_fresh_step_up(
    operator: User, operator_device: TotpDevice, seconds_ago: float | None
) -> None:
    client = Client()
    client.force_login(operator)
    if seconds_ago is not None:
        verify_session(client, operator_device, verified_seconds_ago=seconds_ago)

    response = client.post(REGISTER_BEGIN)

    assert response.status_code == 403
    assert response.json()["code"] in {"step_up_required", "user_not_verified"}
    assert "otp_webauthn_register_state" not in client.session


@pytest.mark.parametrize(
    "change", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"origin": "http://localhost:8001"}]
)
def test_registration_for_another_origin_or_rp_id_is_refused(
    operator: User, operator_device: TotpDevice, change: dict[str, str]
) -> None:
    authenticator = SoftAuthenticator()
    for name, value in change.items():
        setattr(authenticator, name, value)

    response = _register(_verified_client(operator, operator_device), authenticator)

    assert response.status_code == 422
    assert not WebAuthnCredential.objects.exists()


def test_password_then_passkey_verifies_the_session_and_cycles_its_key(
    operator: User, passkey: SoftAuthenticator
) -> None:
    client = _password_only(operator)
    assert client.get(ADMIN).status_code == 302
    otp_page = client.get(reverse("accounts:otp"), {"next": ADMIN})
    assert b"passkey-verification-button" in otp_page.content
    assert b"django_otp_webauthn/otp_webauthn_auth.js" in otp_page.content
    key_before = client.session.session_key

    response = _authenticate(client, passkey)

    assert response.status_code == 200, response.content
    assert response.json()["redirect_url"] == ADMIN
    assert client.session.session_key != key_before
    assert client.get(ADMIN).status_code == 200
    [event] = _events(AuditAction.MFA_VERIFIED)
    assert event.details == {"device": "passkey", "passkey": WebAuthnCredential.objects.get().pk}


def test_an_assertion_without_user_verification_is_refused(operator: User, passkey: SoftAuthenticator) -> None:
    client = _password_only(operator)
    passkey.user_verified = False

    response = _authenticate(client, passkey)

    assert response.status_code == 422
    assert client.get(ADMIN).status_code == 302
    [event] = _events(AuditAction.OTP_FAILED)
    assert event.details == {"step_up": False, "device": "passkey", "reason": "invalid_authentication_response"}


@pytest.mark.parametrize(
    ("change", "headers"),
    [
        ({"origin": "https://evil.example"}, {}),
        ({"origin": "https://evil.example"}, {"Origin": "https://evil.example"}),
        ({"origin": "http://localhost:8001"}, {"Origin": "http://localhost:8001", "Host": "localhost:8001"}),
        ({"rp_id": "evil.example"}, {"Host": "evil.example"}),
    ],
)
def test_an_assertion_for_another_origin_or_rp_id_is_refused_whatever_the_headers(
    operator: User, passkey: SoftAuthenticator, settings: Any, change: dict[str, str], headers: dict[str, str]
) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "localhost", "evil.example"]
    client = _password_only(operator)
    for name, value in change.items():
        setattr(passkey, name, value)

    response = _authenticate(client, passkey, **headers)

    assert response.status_code == 422
    assert client.get(ADMIN).status_code == 302


def test_a_repeated_signature_counter_is_refused(operator: User, passkey: SoftAuthenticator) -> None:
    passkey.sign_count = 5
    assert _authenticate(_password_only(operator), passkey).status_code == 200

    cloned = _authenticate(_password_only(operator), passkey)  # the same counter again: a cloned authenticator

    assert cloned.status_code == 422
    assert WebAuthnCredential.objects.get().sign_count == 5


def test_passkey_failures_and_code_failures_share_the_otp_throttle(
    operator: User, operator_device: TotpDevice, passkey: SoftAuthenticator, settings: Any
) -> None:
    settings.THROTTLE_ACCOUNT_ATTEMPTS = 3
    client = _password_only(operator)
    assert client.post(reverse("accounts:otp"), {"token": "000000", "next": ADMIN}).status_code == 200
    passkey.user_verified = False
    assert _authenticate(client, passkey).status_code == 422
    assert _authenticate(client, passkey).status_code == 422
    passkey.user_verified = True

    refused = _authenticate(client, passkey)  # even a good assertion, while cooling off

    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    assert client.get(ADMIN).status_code == 302
    assert len(_events(AuditAction.LOCKOUT)) == 1


def test_a_user_without_a_passkey_cannot_take_the_passkey_path(operator: User, operator_device: TotpDevice) -> None:
    client = _password_only(operator)
    otp_page = client.get(reverse("accounts:otp"), {"next": ADMIN})

    begin = client.post(AUTH_BEGIN)
    complete = client.post(
        AUTH_COMPLETE, SoftAuthenticator().assertion({"challenge": "AAAA"}), content_type="application/json"
    )

    assert b"passkey-verification-button" not in otp_page.content
    assert begin.status_code == 403
    assert begin.json()["code"] == "no_passkey"
    assert complete.status_code == 400
    assert complete.json()["code"] == "invalid_state"
    assert client.get(ADMIN).status_code == 302


def test_nobody_gets_past_the_password_with_a_passkey(passkey: SoftAuthenticator) -> None:
    response = Client().post(AUTH_BEGIN)

    assert response.status_code == 403
    assert response.json()["code"] == "passwordless_login_disabled"


def test_another_users_passkey_is_refused(operator: User, passkey: SoftAuthenticator, owner_a: User) -> None:
    owners_passkey = SoftAuthenticator()
    assert _register(_verified_client(owner_a, totp_device_provision(user=owner_a)), owners_passkey).status_code == 200
    client = _password_only(owner_a)

    response = _authenticate(client, passkey)  # the operator's passkey, in the owner's session

    assert response.status_code == 403
    assert response.json()["code"] == "credential_user_mismatch"
    assert client.get(ADMIN).status_code == 302


def test_a_passkey_passes_step_up(operator: User, operator_device: TotpDevice, passkey: SoftAuthenticator) -> None:
    client = _verified_client(operator, operator_device, seconds_ago=STALE_SECONDS)
    assert client.get(SECURITY).status_code == 302  # to the step-up page

    response = _authenticate(client, passkey)

    assert response.status_code == 200
    assert client.get(SECURITY).status_code == 200
    [event] = _events(AuditAction.STEP_UP)
    assert event.details["device"] == "passkey"


def test_backup_codes_still_recover_a_user_with_a_passkey(operator: User, passkey: SoftAuthenticator) -> None:
    codes = backup_codes_issue(user=operator)
    client = _password_only(operator)

    response = client.post(reverse("accounts:otp"), {"token": codes[0], "next": ADMIN})

    assert response.status_code == 302
    assert response["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200
    assert len(_events(AuditAction.BACKUP_CODE_USED)) == 1


def test_a_user_whose_only_second_factor_is_a_passkey_is_asked_for_it(
    operator: User, operator_device: TotpDevice, passkey: SoftAuthenticator
) -> None:
    operator_device.delete()

    response = Client().post(reverse("accounts:login"), {"email": operator.email, "password": PASSWORD})

    assert response["Location"].startswith(reverse("accounts:otp"))


def test_the_security_page_lists_names_and_removes_passkeys_behind_step_up(
    operator: User, operator_device: TotpDevice, passkey: SoftAuthenticator
) -> None:
    credential = WebAuthnCredential.objects.get()
    client = _verified_client(operator, operator_device)
    remove_url = reverse("accounts:passkey_remove", args=[credential.pk])

    listed = client.get(SECURITY)
    renamed = client.post(SECURITY, {"passkey": credential.pk, "name": "  Work   laptop  "})
    blank = client.post(SECURITY, {"passkey": credential.pk, "name": "   "})
    named = WebAuthnCredential.objects.get().name
    stale = _verified_client(operator, operator_device, seconds_ago=STALE_SECONDS).post(remove_url)
    removed = client.post(remove_url)

    assert b"Passkey 1" in listed.content
    assert (renamed.status_code, blank.status_code, named) == (303, 303, "Work laptop")
    assert stale.status_code == 302
    assert stale["Location"].startswith(reverse("accounts:step_up"))
    assert removed.status_code == 303
    assert not WebAuthnCredential.objects.exists()
    [event] = _events(AuditAction.PASSKEY_REMOVED)
    assert event.details == {"passkey": credential.pk}


def test_nobody_removes_or_renames_another_users_passkey(
    operator: User, passkey: SoftAuthenticator, owner_a: User
) -> None:
    credential = WebAuthnCredential.objects.get()
    client = _verified_client(owner_a, totp_device_provision(user=owner_a))

    removed = client.post(reverse("accounts:passkey_remove", args=[credential.pk]))
    renamed = client.post(SECURITY, {"passkey": credential.pk, "name": "mine"})

    assert (removed.status_code, renamed.status_code) == (404, 404)
    assert WebAuthnCredential.objects.get().name == "Passkey 1"


def test_a_code_still_works_next_to_a_passkey(
    operator: User, operator_device: TotpDevice, passkey: SoftAuthenticator
) -> None:
    client = _password_only(operator)

    response = client.post(reverse("accounts:otp"), {"token": totp_code(operator_device), "next": ADMIN})

    assert response["Location"] == ADMIN


def test_ceremonies_never_log_or_audit_credential_material(
    operator: User, operator_device: TotpDevice, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    authenticator = SoftAuthenticator()
    assert _register(_verified_client(operator, operator_device), authenticator).status_code == 200
    client = _password_only(operator)
    assert _authenticate(client, authenticator).status_code == 200
    authenticator.origin = "https://evil.example"
    assert _authenticate(_password_only(operator), authenticator).status_code == 422

    credential = WebAuthnCredential.objects.get()
    material = [
        bytes_to_base64url(authenticator.credential_id),
        authenticator.credential_id.hex(),
        credential.credential_id_sha256,
        bytes(credential.public_key).hex(),
    ]
    audited = json.dumps([event.details for event in AuditEvent.objects.all()])
    assert [each for each in material if each in caplog.text or each in audited] == []
    assert [
        record.name for record in caplog.records if record.name.startswith(("django_otp_webauthn", "webauthn"))
    ] == []


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_assertions_with_one_counter_value_pass_once(operator: User, passkey: SoftAuthenticator) -> None:
    """A cloned authenticator racing the real one: both send counter 7; the row lock checks them one after the other,
    so the second sees 7 stored and is refused."""
    query = urlencode({"next": ADMIN})
    clients = [_password_only(operator) for _ in range(4)]
    passkey.sign_count = 7
    assertions = [passkey.assertion(client.post(f"{AUTH_BEGIN}?{query}").json()) for client in clients]

    def complete(index: int) -> int:
        try:
            response = clients[index].post(
                f"{AUTH_COMPLETE}?{query}", assertions[index], content_type="application/json"
            )
            return int(response.status_code)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = Counter(pool.map(complete, range(4)))

    assert statuses == Counter({200: 1, 422: 3})
    assert WebAuthnCredential.objects.get().sign_count == 7
