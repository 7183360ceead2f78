"""Canary scans: plaintext written through the encrypted fields appears nowhere in the database or the broker."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from celery import shared_task
from django.db import connection

from accounts.mfa import totp_device_provision, totp_secret_base32
from accounts.models import Tenant, User
from core.tasks import UnsafeTaskArgumentError, enqueue_on_commit
from tests.broker import broker_blobs, queued_raw
from tests.encryption.support import fresh, note_create, read, stored
from tests.testapp.models import Note, PlainNote

pytestmark = pytest.mark.django_db

QUEUE = "maintenance"


@shared_task(name="maintenance.encryption_canary_probe")
def canary_probe_task(note_id: str, tenant_id: str) -> None:
    """Never runs in these tests: they inspect only what publishing it left in the broker."""


def _as_bytes(value: object) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def _tables_containing(needles: list[bytes]) -> set[str]:
    """Every table (all columns, raw values) where any of ``needles`` occurs."""
    quote = connection.ops.quote_name
    hits = set()
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        assert "testapp_note" in tables and "accounts_totpdevice" in tables
        for table in tables:
            cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608  (names from introspection)
            for row in cursor.fetchall():
                if any(needle in _as_bytes(value) for value in row for needle in needles):
                    hits.add(table)
    return hits


def _note_with(marker: str, tenant: Tenant) -> Note:
    return note_create(
        tenant_id=tenant.id,
        title="canary",
        body=f"Meet me at the north entrance at nine, the door code is {marker}",
        attachment=b"\x89PNG attachment " + marker.encode(),
        payload={"text": f"payload {marker}", "nested": [marker]},
        summary=f"Contact {marker}",
    )


def _seed_forms(seed_hex: str, base32: str) -> list[bytes]:
    seed = bytes.fromhex(seed_hex)
    return [
        seed_hex.encode(),
        seed_hex.upper().encode(),
        base32.encode(),
        seed,
        base64.b64encode(seed),
    ]


@pytest.fixture
def written(marker: str, tenant_a: Tenant, operator: User) -> tuple[Note, list[bytes]]:
    """A note and a TOTP device holding secrets, with every form in which each secret could leak."""
    note = _note_with(marker, tenant_a)
    device = totp_device_provision(user=operator)
    assert read(fresh(device), "key") == device.key and len(device.key) == 40
    assert all(stored(note, field) is not None for field in ("body", "attachment", "payload", "summary"))
    needles = [marker.encode(), marker.upper().encode(), *_seed_forms(device.key, totp_secret_base32(device))]
    return note, needles


def test_no_table_holds_the_plaintext(written: tuple[Note, list[bytes]], tenant_b: Tenant) -> None:
    control = "c0ntr01" + written[1][0].decode()[::-1]
    PlainNote._default_manager.create(tenant_id=tenant_b.id, body=f"visible {control}", attachment=control.encode())

    assert _tables_containing(written[1]) == set()
    assert _tables_containing([control.encode()]) == {"testapp_plainnote"}  # the scan does see plaintext


# --- the broker --------------------------------------------------------------------------------------


def _message_body(blob: bytes) -> bytes | None:
    """A kombu message keeps its body base64-encoded inside a JSON envelope."""
    try:
        message = json.loads(blob)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("properties", {}).get("body_encoding") == "base64":
        return base64.b64decode(message["body"])
    return None


def _broker_contents() -> tuple[list[bytes], list[bytes]]:
    """(every key and value the broker stores, the decoded bodies of the messages among them)."""
    blobs = broker_blobs()
    bodies = [body for body in map(_message_body, blobs) if body is not None]
    return blobs, bodies


def test_the_broker_carries_ids_and_never_the_plaintext(
    written: tuple[Note, list[bytes]], django_capture_on_commit_callbacks: Any
) -> None:
    note, needles = written

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enqueue_on_commit(canary_probe_task, note.pk, note.tenant_id)

    blobs, bodies = _broker_contents()
    assert len(callbacks) == 1
    assert len(queued_raw(QUEUE)) == 1
    assert [json.loads(body)[0] for body in bodies] == [[str(note.pk), str(note.tenant_id)]]
    assert not [needle for needle in needles for blob in blobs + bodies if needle in blob]


@pytest.mark.parametrize(
    "leak",
    [
        lambda note: read(note, "body"),
        lambda note: read(note, "attachment"),
        lambda note: read(note, "payload"),
    ],
    ids=["body", "attachment", "payload"],
)
def test_enqueue_refuses_plaintext_arguments(
    marker: str,
    tenant_a: Tenant,
    leak: Callable[[Note], object],
    django_capture_on_commit_callbacks: Any,
) -> None:
    argument = leak(fresh(_note_with(marker, tenant_a)))

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(UnsafeTaskArgumentError) as raised:
        enqueue_on_commit(canary_probe_task, tenant_a.id, text=argument)

    assert callbacks == []  # nothing will be published
    assert str(raised.value) == f"task arguments must be ids (int or UUID) or flags, got {type(argument).__name__}"
    assert marker not in str(raised.value)


def test_enqueue_refuses_a_short_plaintext_body(
    tenant_a: Tenant, marker: str, django_capture_on_commit_callbacks: Any
) -> None:
    note = note_create(tenant_id=tenant_a.id, body=f"PIN {marker[:4]}")
    body = read(fresh(note), "body")

    with django_capture_on_commit_callbacks(), pytest.raises(UnsafeTaskArgumentError):
        enqueue_on_commit(canary_probe_task, note.pk, body)
