"""Provisioning commands and the services behind them: clear errors, JSON for scripts, one audit event each."""

from __future__ import annotations

import io
import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.models import BackupCode, Membership, Role, Tenant, TotpDevice, User
from accounts.services import AccountsError, membership_delete, membership_set, tenant_create
from audit.models import AuditAction, AuditEvent
from events.endpoints import SUBSCRIBABLE_TYPES
from events.models import Endpoint
from gateway.management.commands.bootstrap_demo import DEMO_EMAIL
from messaging.models import Channel, MetaApp

pytestmark = pytest.mark.django_db


def _run(*arguments: str, stdin: str = "") -> str:
    out = io.StringIO()
    import sys

    original = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command(*arguments, stdout=out)
    finally:
        sys.stdin = original
    return out.getvalue()


def test_tenant_create_prints_json_and_audits_on_the_new_tenant_chain() -> None:
    result = json.loads(_run("tenant_create", "acme", "--name", "Acme Ltd", "--json"))

    tenant = Tenant.objects.get(slug="acme")
    assert result == {"id": str(tenant.pk), "slug": "acme", "name": "Acme Ltd"}
    event = AuditEvent.objects.get(action=AuditAction.TENANT_CREATED)
    assert event.tenant_id == tenant.pk
    assert event.actor_label == "cli"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("tenant_create", "Bad Slug!"), "not a valid slug"),
        (("user_create", "not-an-email"), "not a valid email"),
        (("user_create", "a@b.example", "--tenant", "missing", "--role", "agent"), "no tenant with slug"),
        (("user_create", "a@b.example", "--tenant", "acme"), "--tenant and --role go together"),
    ],
)
def test_bad_input_is_a_clear_command_error(arguments: tuple[str, ...], message: str) -> None:
    Tenant.objects.create(name="Acme", slug="acme")

    with pytest.raises(CommandError, match=message):
        _run(*arguments)

    assert User.objects.count() == 0


def test_duplicate_tenant_is_refused() -> None:
    _run("tenant_create", "acme")

    with pytest.raises(CommandError, match="already exists"):
        _run("tenant_create", "acme")
    assert AuditEvent.objects.filter(action=AuditAction.TENANT_CREATED).count() == 1


def test_user_create_with_membership_and_password_from_stdin() -> None:
    tenant = Tenant.objects.create(name="Acme", slug="acme")

    result = json.loads(
        _run(
            "user_create",
            "Agent@Acme.example",
            "--tenant",
            "acme",
            "--role",
            "agent",
            "--password-stdin",
            "--json",
            stdin="a long enough passphrase\n",
        )
    )

    user = User.objects.get(email="agent@acme.example")
    assert result["has_password"] is True
    assert user.check_password("a long enough passphrase")
    assert Membership.objects.get(user=user).role == Role.AGENT
    assert AuditEvent.objects.filter(action=AuditAction.USER_CREATED, tenant_id=None).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_CREATED, tenant_id=tenant.pk).count() == 1


def test_weak_password_is_refused_and_nothing_is_written() -> None:
    with pytest.raises(CommandError, match="too short"):
        _run("user_create", "a@b.example", "--password-stdin", stdin="short\n")

    assert User.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_membership_role_changes_are_audited_once_each(owner_a: User, tenant_a: Tenant) -> None:
    membership_set(tenant=tenant_a, user=owner_a, role=Role.ADMIN, actor=CLI_ACTOR)
    membership_set(tenant=tenant_a, user=owner_a, role=Role.ADMIN, actor=CLI_ACTOR)
    membership = Membership.objects.get(user=owner_a)
    membership_delete(membership=membership, actor=CLI_ACTOR)

    actions = list(AuditEvent.objects.filter(tenant_id=tenant_a.pk).order_by("seq").values_list("action", flat=True))
    assert actions == [AuditAction.MEMBERSHIP_ROLE_CHANGED, AuditAction.MEMBERSHIP_DELETED]
    with pytest.raises(AccountsError, match="unknown role"):
        membership_set(tenant=tenant_a, user=owner_a, role="emperor", actor=CLI_ACTOR)


def test_tenant_create_service_refuses_an_empty_name() -> None:
    with pytest.raises(AccountsError, match="needs a name"):
        tenant_create(name="  ", slug="x", actor=CLI_ACTOR)


def test_bootstrap_demo_creates_a_ready_owner_once_and_resets_on_request() -> None:
    first = _run("bootstrap_demo")

    owner = User.objects.get(email=DEMO_EMAIL)
    password = re.search(r"Password:\s+(\S+)", first).group(1)  # type: ignore[union-attr]
    assert owner.check_password(password)
    assert owner.is_superuser and owner.is_staff
    assert Membership.objects.get(user=owner).role == Role.OWNER
    assert "otpauth://totp/" in first
    assert TotpDevice.objects.get(user=owner).confirmed
    assert BackupCode.objects.filter(device__user=owner).count() == 10
    assert "█" in first  # the QR code

    again = _run("bootstrap_demo")
    assert "Password" not in again and "demo-reset" in again

    reset = _run("bootstrap_demo", "--reset")
    new_password = re.search(r"Password:\s+(\S+)", reset).group(1)  # type: ignore[union-attr]
    owner.refresh_from_db()
    assert new_password != password and owner.check_password(new_password)
    assert User.objects.count() == 1 and Tenant.objects.count() == 1


def test_bootstrap_demo_sets_up_simulator_channels_and_a_fresh_working_key_each_run(
    settings: Any, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path
    first = _run("bootstrap_demo")
    key = re.search(r"Demo API key[^:]*: (\S+)", first).group(1)  # type: ignore[union-attr]
    assert "curl -s -X POST http://127.0.0.1:8000/api/v1/messages/" in first and key in first

    simulator_file = tmp_path / "simulator.json"
    assert stat.S_IMODE(simulator_file.stat().st_mode) == 0o600
    config = json.loads(simulator_file.read_text())
    app = MetaApp.objects.get()
    assert {channel["platform"] for channel in config["channels"]} == {"whatsapp", "messenger"}
    for entry in config["channels"]:
        channel = Channel.objects.get(provider_id=entry["provider_id"])
        assert entry["access_token"] == channel.access_token and entry["app_secret"] == app.app_secret
        assert entry["webhook_url"] == f"http://127.0.0.1:8000/webhooks/meta/{app.app_key}/"

    second = _run("bootstrap_demo")
    new_key = re.search(r"Demo API key[^:]*: (\S+)", second).group(1)  # type: ignore[union-attr]
    assert new_key != key
    assert MetaApp.objects.count() == 1 and Channel.objects.count() == 2
    client = APIClient()
    assert client.get("/api/v1/channels/", HTTP_AUTHORIZATION=f"Bearer {new_key}").status_code == 200
    assert client.get("/api/v1/channels/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    assert client.get("/api/v1/events/", HTTP_AUTHORIZATION=f"Bearer {new_key}").status_code == 200


def test_bootstrap_demo_points_one_endpoint_at_the_simulators_receiver_with_its_secret(
    settings: Any, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path
    _run("bootstrap_demo", "--simulator-url", "http://127.0.0.1:8899")
    _run("bootstrap_demo", "--simulator-url", "http://127.0.0.1:8899")

    endpoint = Endpoint.objects.get()
    config = json.loads((tmp_path / "simulator.json").read_text())
    assert endpoint.url == "http://127.0.0.1:8899/_sim/events"
    assert set(endpoint.event_types) == set(SUBSCRIBABLE_TYPES) and endpoint.is_enabled
    assert config["event_receiver"] == {"secrets": [endpoint.secret]}
    assert endpoint.secret.startswith("whsec_")
