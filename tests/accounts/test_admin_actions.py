"""Sensitive admin actions: issuing and revoking API keys, removing MFA devices; all behind a fresh step-up."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

import accounts.admin
from accounts.apikeys import IssuedKey, api_key_authenticate, api_key_issue, api_key_parse
from accounts.mfa import totp_device_provision
from accounts.models import ApiKey, Membership, Role, Tenant, TotpDevice, User
from audit.models import AuditAction, AuditEvent
from tests.conftest import verify_session
from tests.database_text import tables_holding

pytestmark = pytest.mark.django_db
ISSUE_URL = "/admin/accounts/apikey/add/"
ISSUED_URL = "/admin/accounts/apikey/issued/"
KEY_PATTERN = re.compile(r"gw_test_\w+")


def _stale_client(user: User, device: TotpDevice) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, device, verified_seconds_ago=3600)
    return client


def _issue(client: Client, tenant: Tenant) -> Any:
    return client.post(
        ISSUE_URL, {"tenant": tenant.pk, "name": "CRM", "scopes": ["keys:read", "messages:read"], "days": 30}
    )


def _keys_in(response: Any) -> list[str]:
    return KEY_PATTERN.findall(response.content.decode())


def test_issuing_a_key_redirects_to_a_page_that_shows_it_once(operator_client: Client, tenant_a: Tenant) -> None:
    posted = _issue(operator_client, tenant_a)

    assert (posted.status_code, posted["Location"]) == (303, ISSUED_URL)
    assert _keys_in(posted) == []
    shown = operator_client.get(posted["Location"])
    [plaintext] = set(_keys_in(shown))
    assert api_key_authenticate(raw_key=plaintext, ip="127.0.0.1").tenant == tenant_a
    assert "no-store" in shown["Cache-Control"]
    reloaded = operator_client.get(posted["Location"])
    assert (reloaded.status_code, _keys_in(reloaded)) == (200, [])
    assert "already shown" in reloaded.content.decode() and "no-store" in reloaded["Cache-Control"]
    listing = operator_client.get("/admin/accounts/apikey/").content.decode()
    assert plaintext not in listing and ApiKey.objects.get().prefix in listing
    assert ApiKey.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_ISSUED, tenant_id=tenant_a.pk).count() == 1


def test_an_issued_key_is_never_stored_in_plaintext_while_it_waits_to_be_shown(
    operator_client: Client, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued: list[IssuedKey] = []

    def issue_and_keep(**kwargs: Any) -> IssuedKey:
        issued.append(api_key_issue(**kwargs))
        return issued[-1]

    monkeypatch.setattr(accounts.admin, "api_key_issue", issue_and_keep)
    posted = _issue(operator_client, tenant_a)
    [key] = issued
    secret = api_key_parse(raw_key=key.plaintext).secret
    assert key.plaintext not in posted["Location"]
    assert (tables_holding(key.plaintext), tables_holding(secret)) == ([], [])

    assert set(_keys_in(operator_client.get(posted["Location"]))) == {key.plaintext}
    assert (tables_holding(key.plaintext), tables_holding(secret)) == ([], [])


def test_the_key_page_shows_nothing_to_another_session_of_the_same_user(
    operator: User, operator_device: TotpDevice, operator_client: Client, tenant_a: Tenant
) -> None:
    other = Client()
    other.force_login(operator)
    verify_session(other, operator_device)

    posted = _issue(operator_client, tenant_a)

    assert _keys_in(other.get(posted["Location"])) == []
    assert len(set(_keys_in(operator_client.get(posted["Location"])))) == 1


def test_the_key_page_without_an_issued_key_shows_none(operator_client: Client, tenant_a: Tenant) -> None:
    page = operator_client.get(ISSUED_URL)

    assert (page.status_code, _keys_in(page)) == (200, [])
    assert ApiKey.objects.count() == 0


def test_issuing_needs_a_fresh_step_up(operator: User, operator_device: TotpDevice, tenant_a: Tenant) -> None:
    client = _stale_client(operator, operator_device)

    response = client.post(ISSUE_URL, {"tenant": tenant_a.pk, "name": "CRM", "scopes": ["keys:read"], "days": 30})

    assert response.status_code == 302
    assert response["Location"].startswith("/account/step-up/")
    assert ApiKey.objects.count() == 0


def test_issue_form_rejects_bad_input_without_a_500(operator_client: Client, tenant_a: Tenant) -> None:
    response = operator_client.post(ISSUE_URL, {"tenant": tenant_a.pk, "name": "CRM", "scopes": [], "days": 9999})

    assert response.status_code == 200
    assert ApiKey.objects.count() == 0


def test_revoke_action_revokes_after_step_up_only(operator: User, operator_device: TotpDevice, tenant_a) -> None:
    issued = api_key_issue(tenant=tenant_a, name="CRM", scopes=["keys:read"])
    payload = {"action": "revoke_keys", "_selected_action": [str(issued.api_key.pk)]}

    stale = _stale_client(operator, operator_device).post("/admin/accounts/apikey/", payload)
    assert stale.status_code == 302 and stale["Location"].startswith("/account/step-up/")
    assert ApiKey.objects.get().revoked_at is None

    fresh = _stale_client(operator, operator_device)
    verify_session(fresh, operator_device)
    fresh.post("/admin/accounts/apikey/", payload)
    assert ApiKey.objects.get().revoked_at is not None
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED).count() == 1


def test_removing_someones_authenticator_needs_step_up_and_is_audited(
    operator: User, operator_device: TotpDevice, owner_a: User
) -> None:
    lost = totp_device_provision(user=owner_a)
    url = reverse("admin:accounts_totpdevice_delete", args=[lost.pk])

    stale = _stale_client(operator, operator_device).post(url, {"post": "yes"})
    assert stale.status_code == 302 and stale["Location"].startswith("/account/step-up/")
    assert TotpDevice.objects.filter(pk=lost.pk).exists()

    fresh = _stale_client(operator, operator_device)
    verify_session(fresh, operator_device)
    assert fresh.post(url, {"post": "yes"}).status_code == 302
    assert not TotpDevice.objects.filter(pk=lost.pk).exists()
    event = AuditEvent.objects.get(action=AuditAction.MFA_DEVICE_REMOVED)
    assert event.target_id == str(owner_a.pk)


def test_membership_changes_in_the_admin_are_audited(operator_client: Client, owner_a: User, tenant_a) -> None:
    membership = Membership.objects.get(user=owner_a)
    url = reverse("admin:accounts_membership_change", args=[membership.pk])

    response = operator_client.post(url, {"role": Role.AUDITOR})

    assert response.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == Role.AUDITOR
    event = AuditEvent.objects.get(action=AuditAction.MEMBERSHIP_ROLE_CHANGED)
    assert event.details["previous_role"] == Role.OWNER


def test_tenant_and_user_created_in_the_admin_are_audited(operator_client: Client) -> None:
    operator_client.post("/admin/accounts/tenant/add/", {"name": "Acme", "slug": "acme", "is_active": "on"})
    operator_client.post("/admin/accounts/user/add/", {"email": "new@acme.example", "usable_password": "false"})

    assert Tenant.objects.filter(slug="acme").exists()
    assert User.objects.filter(email="new@acme.example").exists()
    assert AuditEvent.objects.filter(action=AuditAction.TENANT_CREATED).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.USER_CREATED).count() == 1


def test_the_key_form_of_a_member_of_one_tenant_has_that_tenant_chosen(
    owner_a: User, tenant_a: Tenant, tenant_b: Tenant, operator_client: Client
) -> None:
    client = Client()
    client.force_login(owner_a)
    verify_session(client, totp_device_provision(user=owner_a))

    own = client.get("/admin/accounts/apikey/add/").content.decode()
    every = operator_client.get("/admin/accounts/apikey/add/").content.decode()

    assert re.search(rf'<option value="{tenant_a.pk}" selected>', own)
    assert str(tenant_b.pk) not in own
    assert 'value="" selected>' in every  # an operator chooses
