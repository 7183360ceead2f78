"""Registering Meta apps and adding channels from the command line: scriptable, secrets only on stdin."""

from __future__ import annotations

import io
import json
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import Tenant
from audit.models import AuditAction, AuditEvent
from messaging.models import Channel, MetaApp, new_app_key

pytestmark = pytest.mark.django_db
APP_SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "EAAG" + "x" * 60


def _run(*arguments: str, stdin: str = "") -> str:
    out, original = io.StringIO(), sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command(*arguments, stdout=out)
    finally:
        sys.stdin = original
    return out.getvalue()


def _raw_column_values() -> list[bytes]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT app_secret, verify_token FROM messaging_metaapp")
        app_values = [bytes(value) for row in cursor.fetchall() for value in row]
        cursor.execute("SELECT access_token FROM messaging_channel")
        return app_values + [bytes(row[0]) for row in cursor.fetchall()]


def test_register_an_app_and_add_a_channel(tenant_a: Tenant) -> None:
    registered = json.loads(
        _run("metaapp_register", "--tenant", "tenant-a", "--name", "A app", "--json", stdin=APP_SECRET + "\n")
    )
    added = json.loads(
        _run(
            "channel_add",
            "--tenant",
            "tenant-a",
            "--app",
            registered["app_key"],
            "--platform",
            "whatsapp",
            "--provider-id",
            "106540352242922",
            "--name",
            "Support",
            "--waba-id",
            "102290129340398",
            "--json",
            stdin=TOKEN + "\n",
        )
    )

    app = MetaApp.objects.get()
    assert registered["callback_path"] == f"/webhooks/meta/{app.app_key}/"
    assert app.verify_token == registered["verify_token"] and app.app_secret == APP_SECRET
    channel = Channel.objects.get()
    assert added == {
        "id": str(channel.pk),
        "tenant": "tenant-a",
        "platform": "whatsapp",
        "provider_id": "106540352242922",
        "waba_id": "102290129340398",
    }
    assert channel.waba_id == "102290129340398"
    assert channel.access_token == TOKEN
    stored = b"".join(_raw_column_values())
    for secret in (APP_SECRET, TOKEN, registered["verify_token"]):
        assert secret.encode() not in stored
    actions = set(AuditEvent.objects.filter(tenant_id=tenant_a.pk).values_list("action", flat=True))
    assert {AuditAction.META_APP_CREATED, AuditAction.CHANNEL_CREATED} <= actions
    assert not AuditEvent.objects.filter(details__icontains=APP_SECRET[:12]).exists()


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (("metaapp_register", "--tenant", "nope", "--name", "x"), APP_SECRET, "no tenant with slug"),
        (("metaapp_register", "--shared", "--name", "x"), "short", "looks wrong"),
        (
            ("channel_add", "--tenant", "tenant-a", "--app", "missing", "--platform", "whatsapp", "--provider-id", "1"),
            TOKEN,
            "no Meta app",
        ),
    ],
)
def test_bad_input_is_a_clear_error(tenant_a: Tenant, arguments: tuple[str, ...], stdin: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _run(*arguments, stdin=stdin + "\n")
    assert Channel.objects.count() == 0


def test_channel_ids_are_unique_and_numeric(tenant_a: Tenant) -> None:
    registered = json.loads(_run("metaapp_register", "--shared", "--name", "Shared", "--json", stdin=APP_SECRET))
    base = ("channel_add", "--tenant", "tenant-a", "--app", registered["app_key"], "--platform", "messenger")
    _run(*base, "--provider-id", "123456", stdin=TOKEN)

    with pytest.raises(CommandError, match="already exists"):
        _run(*base, "--provider-id", "123456", stdin=TOKEN)
    with pytest.raises(CommandError, match="is a number"):
        _run(*base, "--provider-id", "page-1", stdin=TOKEN)
    with pytest.raises(CommandError, match="only a WhatsApp channel"):
        _run(*base, "--provider-id", "654321", "--waba-id", "102290129340398", stdin=TOKEN)
    assert Channel.objects.count() == 1


def test_app_keys_are_never_taken_for_an_option() -> None:
    """An app key is pasted after --app on command lines: one starting with '-' would be read as an option."""
    keys = {new_app_key() for _ in range(2_000)}
    assert len(keys) == 2_000
    assert all(len(key) == 24 and key.isascii() and key.isalnum() for key in keys)
