"""Disabling a user ends their sessions on the server and revokes the API keys they created, at once, whichever
way it is done (the admin's form or the service), and is audited."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import IssuedKey, api_key_issue
from accounts.mfa import totp_device_provision
from accounts.models import ApiKey, ApiScope, Tenant, User, UserSession
from accounts.services import user_disable
from audit.models import AuditAction, AuditEvent
from tests.conftest import verify_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(owner_a: User) -> Client:
    """The owner's browser, logged in and past OTP."""
    client = Client()
    client.force_login(owner_a)
    verify_session(client, totp_device_provision(user=owner_a))
    return client


@pytest.fixture
def owner_key(tenant_a: Tenant, owner_a: User) -> IssuedKey:
    return api_key_issue(tenant=tenant_a, name="Owner's CRM", scopes=[ApiScope.KEYS_READ], created_by=owner_a)


@pytest.fixture
def operator_key(tenant_a: Tenant, operator: User) -> IssuedKey:
    return api_key_issue(tenant=tenant_a, name="Operator's", scopes=[ApiScope.KEYS_READ], created_by=operator)


def api_status(issued: IssuedKey) -> int:
    client = APIClient(REMOTE_ADDR="203.0.113.5")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client.get("/api/v1/tenant/").status_code


def assert_sent_to_login(client: Client) -> None:
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "login" in response["Location"]


def assert_ended(owner: User, owner_client: Client, owner_key: IssuedKey, operator_key: IssuedKey) -> None:
    assert_sent_to_login(owner_client)
    assert api_status(owner_key) == 401
    assert api_status(operator_key) == 200  # a key someone else created stays
    assert not UserSession.objects.filter(user_id=owner.pk).exists()
    assert not User.objects.get(pk=owner.pk).is_active
    (revoked,) = AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED)
    assert revoked.target_id == str(owner_key.api_key.pk)


def test_a_user_session_row_carries_its_user(owner_a: User, owner_client: Client) -> None:
    assert owner_client.get(reverse("admin:index")).status_code == 200

    assert UserSession.objects.filter(user_id=owner_a.pk).count() == 1
    assert not UserSession.objects.filter(user_id__isnull=True).exists()


def test_disabling_in_the_admin_ends_the_sessions_and_keys_before_the_next_request(
    operator: User,
    operator_client: Client,
    owner_a: User,
    owner_client: Client,
    owner_key: IssuedKey,
    operator_key: IssuedKey,
) -> None:
    assert owner_client.get(reverse("admin:index")).status_code == 200
    assert api_status(owner_key) == 200
    change_url = reverse("admin:accounts_user_change", args=[owner_a.pk])

    response = operator_client.post(change_url, {"email": owner_a.email, "full_name": "", "is_staff": "on"})

    assert response.status_code == 302, response.content.decode()[-2000:]
    assert_ended(owner_a, owner_client, owner_key, operator_key)
    (disabled,) = AuditEvent.objects.filter(action=AuditAction.USER_DISABLED)
    assert (disabled.actor_id, disabled.target_id) == (operator.pk, str(owner_a.pk))
    assert disabled.details == {"was_active": True, "sessions_ended": 1, "api_keys_revoked": 1}
    assert operator_client.get(reverse("admin:index")).status_code == 200  # the operator's own session stays


def test_saving_the_form_of_a_disabled_user_again_disables_nothing_more(
    operator_client: Client, owner_a: User, owner_key: IssuedKey
) -> None:
    user_disable(user=owner_a, actor=CLI_ACTOR)
    change_url = reverse("admin:accounts_user_change", args=[owner_a.pk])

    response = operator_client.post(change_url, {"email": owner_a.email, "full_name": "Renamed", "is_staff": "on"})

    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.USER_DISABLED).count() == 1
    assert User.objects.get(pk=owner_a.pk).full_name == "Renamed"


def test_disabling_with_the_service_ends_the_sessions_and_keys_and_repeats_harmlessly(
    owner_a: User, owner_client: Client, owner_key: IssuedKey, operator_key: IssuedKey
) -> None:
    assert owner_client.get(reverse("admin:index")).status_code == 200

    assert user_disable(user=owner_a, actor=CLI_ACTOR) == 1
    assert_ended(owner_a, owner_client, owner_key, operator_key)
    assert user_disable(user=owner_a, actor=CLI_ACTOR) == 0

    first, again = AuditEvent.objects.filter(action=AuditAction.USER_DISABLED).order_by("seq")
    assert (first.actor_label, first.details["was_active"], again.details["was_active"]) == ("cli", True, False)
    assert ApiKey.objects.get(pk=owner_key.api_key.pk).revoked_at is not None


def test_an_inactive_user_is_refused_even_with_a_session_left_behind(owner_a: User, owner_client: Client) -> None:
    User.objects.filter(pk=owner_a.pk).update(is_active=False)  # not through the service: the session row stays

    assert UserSession.objects.filter(user_id=owner_a.pk).exists()
    assert_sent_to_login(owner_client)


def test_the_command_disables_by_email(
    owner_a: User, owner_client: Client, owner_key: IssuedKey, operator_key: IssuedKey
) -> None:
    out = StringIO()
    call_command("user_disable", " Owner@A.example ", stdout=out)

    assert out.getvalue() == f"Disabled {owner_a.email}; revoked 1 API key(s) they created.\n"
    assert_ended(owner_a, owner_client, owner_key, operator_key)
    with pytest.raises(CommandError, match=r"no user has the email address 'nobody@a\.example'"):
        call_command("user_disable", "nobody@a.example")


def test_deleting_a_user_in_the_admin_first_disables_them(
    operator_client: Client, owner_a: User, owner_client: Client, owner_key: IssuedKey, operator_key: IssuedKey
) -> None:
    delete_url = reverse("admin:accounts_user_delete", args=[owner_a.pk])

    response = operator_client.post(delete_url, {"post": "yes"})

    assert response.status_code == 302
    assert not User.objects.filter(pk=owner_a.pk).exists()
    assert_sent_to_login(owner_client)
    assert api_status(owner_key) == 401  # revoked before its creator was gone
    assert api_status(operator_key) == 200
    assert AuditEvent.objects.filter(action=AuditAction.USER_DISABLED, target_id=str(owner_a.pk)).count() == 1


def test_deleting_users_in_bulk_in_the_admin_first_disables_each(
    operator_client: Client, owner_a: User, owner_b: User, owner_key: IssuedKey
) -> None:
    changelist = reverse("admin:accounts_user_changelist")
    chosen = {"action": "delete_selected", "_selected_action": [str(owner_a.pk), str(owner_b.pk)]}

    response = operator_client.post(changelist, {**chosen, "post": "yes"})

    assert response.status_code == 302
    assert not User.objects.filter(pk__in=[owner_a.pk, owner_b.pk]).exists()
    assert api_status(owner_key) == 401
    assert AuditEvent.objects.filter(action=AuditAction.USER_DISABLED).count() == 2
