"""Sensitive admin actions: issuing and revoking API keys, removing MFA devices; all behind a fresh step-up."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.apikeys import api_key_authenticate, api_key_issue
from accounts.mfa import totp_device_provision
from accounts.models import ApiKey, Membership, Role, Tenant, TotpDevice, User
from audit.models import AuditAction, AuditEvent
from tests.conftest import verify_session

pytestmark = pytest.mark.django_db
ISSUE_URL = "/admin/accounts/apikey/add/"


def _stale_client(user: User, device: TotpDevice) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, device, verified_seconds_ago=3600)
    return client


def test_issuing_a_key_in_the_admin_shows_it_once(operator_client: Client, tenant_a: Tenant) -> None:
    response = operator_client.post(
        ISSUE_URL, {"tenant": tenant_a.pk, "name": "CRM", "scopes": ["keys:read", "messages:read"], "days": 30}
    )

    assert response.status_code == 200
    plaintext = re.search(r"gw_test_\w+", response.content.decode()).group(0)  # type: ignore[union-attr]
    assert api_key_authenticate(raw_key=plaintext, ip="127.0.0.1").tenant == tenant_a
    assert response["Cache-Control"].startswith("max-age=0")
    listing = operator_client.get("/admin/accounts/apikey/").content.decode()
    assert plaintext not in listing
    assert ApiKey.objects.get().prefix in listing
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_ISSUED, tenant_id=tenant_a.pk).count() == 1


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
