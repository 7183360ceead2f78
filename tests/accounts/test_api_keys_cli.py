"""``manage.py apikey_issue`` and ``apikey_revoke``: output, the key printed works, clear errors."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.apikeys import IssuedKey, api_key_issue
from accounts.models import ApiKey, Tenant
from audit.models import AuditAction, AuditEvent


@pytest.fixture
def key_b(tenant_a: Tenant, tenant_b: Tenant) -> IssuedKey:
    return api_key_issue(tenant=tenant_b, name="B key", scopes=["keys:read"])


def _run(*arguments: str) -> str:
    out = StringIO()
    call_command(*arguments, stdout=out)
    return out.getvalue()


def _run_from_command_line(
    name: str, *arguments: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int | str | None, str, str]:
    """Like ``manage.py <name> ...``: returns (exit code, stdout, stderr)."""
    # run_from_argv closes every connection when it ends, which would drop the test transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    command = load_command_class("accounts", name)
    code: int | str | None = 0
    try:
        command.run_from_argv(["manage.py", name, *arguments])
    except SystemExit as exited:
        code = exited.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_apikey_issue_json_prints_a_key_that_authenticates(key_b: IssuedKey, tenant_a: Tenant):
    before = timezone.now()
    output = json.loads(
        _run(
            "apikey_issue",
            "--tenant",
            "tenant-a",
            "--name",
            "CRM",
            "--scope",
            "keys:read",
            "--scope",
            "messages:send",
            "--days",
            "30",
            "--json",
        )
    )

    api_key = ApiKey.objects.get(tenant=tenant_a)
    assert sorted(output) == ["expires_at", "id", "key", "prefix", "rate_limits", "scopes", "tenant"]
    assert (output["id"], output["prefix"], output["tenant"], output["scopes"]) == (
        str(api_key.pk),
        api_key.prefix,
        "tenant-a",
        ["keys:read", "messages:send"],
    )
    assert output["expires_at"] == api_key.expires_at.isoformat()
    assert before + timedelta(days=30) <= api_key.expires_at <= timezone.now() + timedelta(days=30)
    assert output["key"].startswith(api_key.prefix + "_")
    response = APIClient().get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {output['key']}")
    assert response.status_code == 200
    assert response.json()["slug"] == "tenant-a"


def test_apikey_issue_writes_one_audit_event_labelled_cli(key_b: IssuedKey, tenant_a: Tenant):
    _run("apikey_issue", "--tenant", "tenant-a", "--name", "CRM", "--scope", "keys:read", "--json")

    events = AuditEvent.objects.filter(action=AuditAction.API_KEY_ISSUED, tenant_id=tenant_a.pk)
    assert [(event.actor_label, event.actor_id) for event in events] == [("cli", None)]


def test_apikey_issue_plain_output_shows_the_key_once_with_a_warning(key_b: IssuedKey, tenant_a: Tenant):
    output = _run("apikey_issue", "--tenant", "tenant-a", "--name", "CRM", "--scope", "keys:read")

    api_key = ApiKey.objects.get(tenant=tenant_a)
    lines = output.splitlines()
    keys = [line.strip() for line in lines if line.strip().startswith(api_key.prefix + "_")]
    assert len(keys) == 1
    assert lines[0] == (
        f"Issued API key 'CRM' ({api_key.prefix}) for tenant tenant-a, scopes keys:read, "
        f"expires {api_key.expires_at.isoformat()}:"
    )
    assert lines[-1] == "Store it now: it will not be shown again."
    assert APIClient().get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {keys[0]}").status_code == 200


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--tenant", "nope", "--name", "x", "--scope", "keys:read"], "unknown tenant 'nope'"),
        (
            ["--tenant", "tenant-a", "--name", "x", "--scope", "keys:write"],
            "unknown scope(s): keys:write; known: messages:send, messages:read, contacts:read, contacts:erase, "
            "policies:read, keys:read, events:manage, events:read, templates:manage, reports:read, "
            "contacts:export",
        ),
        (["--tenant", "tenant-a", "--name", "x"], "at least one scope is required"),
        (
            ["--tenant", "tenant-a", "--name", "x", "--scope", "keys:read", "--days", "366"],
            "--days must be between 1 and 365, not 366",
        ),
        (
            ["--tenant", "tenant-a", "--name", "x", "--scope", "keys:read", "--days", "0"],
            "--days must be between 1 and 365, not 0",
        ),
        (["--tenant", "tenant-a", "--name", " ", "--scope", "keys:read"], "a name is required"),
    ],
)
def test_apikey_issue_refuses_bad_input_with_a_clear_message(key_b: IssuedKey, arguments: list[str], message: str):
    with pytest.raises(CommandError) as raised:
        _run("apikey_issue", *arguments)

    assert str(raised.value) == message
    assert list(ApiKey.objects.values_list("pk", flat=True)) == [key_b.api_key.pk]
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_ISSUED).count() == 1


def test_apikey_issue_error_exits_non_zero_without_traceback(
    key_b: IssuedKey, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    code, out, err = _run_from_command_line(
        "apikey_issue",
        "--tenant",
        "nope",
        "--name",
        "x",
        "--scope",
        "keys:read",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )

    assert (code, out, err) == (1, "", "CommandError: unknown tenant 'nope'\n")


def test_apikey_issue_success_exits_zero(
    key_b: IssuedKey, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    code, out, err = _run_from_command_line(
        "apikey_issue",
        "--tenant",
        "tenant-a",
        "--name",
        "x",
        "--scope",
        "keys:read",
        "--json",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )

    assert (code, err) == (0, "")
    assert json.loads(out)["tenant"] == "tenant-a"


@pytest.mark.parametrize("reference", ["key_id", "prefix", "pk"])
def test_apikey_revoke_by_id_prefix_or_uuid(key_b: IssuedKey, tenant_a: Tenant, reference: str):
    issued = api_key_issue(tenant=tenant_a, name="A key", scopes=["keys:read"])

    output = json.loads(_run("apikey_revoke", str(getattr(issued.api_key, reference)), "--json"))

    issued.api_key.refresh_from_db()
    assert issued.api_key.revoked_at is not None
    assert output == {
        "id": str(issued.api_key.pk),
        "prefix": issued.api_key.prefix,
        "tenant": "tenant-a",
        "revoked_at": issued.api_key.revoked_at.isoformat(),
        "already_revoked": False,
    }
    assert ApiKey.objects.get(pk=key_b.api_key.pk).revoked_at is None
    response = APIClient().get("/api/v1/tenant/", HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    assert response.status_code == 401


def test_apikey_revoke_twice_reports_it_and_audits_once(key_b: IssuedKey):
    first = _run("apikey_revoke", key_b.api_key.prefix)
    second = _run("apikey_revoke", key_b.api_key.prefix)

    key_b.api_key.refresh_from_db()
    assert key_b.api_key.revoked_at is not None
    assert first == f"Revoked API key {key_b.api_key.prefix} of tenant tenant-b.\n"
    assert second == f"API key {key_b.api_key.prefix} was already revoked at {key_b.api_key.revoked_at.isoformat()}.\n"
    events = AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED)
    assert [(event.actor_label, event.target_id) for event in events] == [("cli", str(key_b.api_key.pk))]


def test_apikey_revoke_unknown_reference_exits_non_zero(
    key_b: IssuedKey, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    code, out, err = _run_from_command_line(
        "apikey_revoke", "gw_test_0000000000", monkeypatch=monkeypatch, capsys=capsys
    )

    assert (code, out, err) == (1, "", "CommandError: no API key matches 'gw_test_0000000000'\n")
    assert ApiKey.objects.get(pk=key_b.api_key.pk).revoked_at is None
    assert AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED).count() == 0
