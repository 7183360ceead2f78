"""Rotation, destruction, verification and status of keys, through the services and the `keys` command."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from encryption import keyring, providers, services
from encryption.blind_index import blind_index_filter
from encryption.errors import DecryptionError, KeyOperationError
from encryption.models import OPERATOR, DataKey, KeyEncryptionKey, KeyState, Purpose
from gateway.env import new_root_key_entry
from tests.clock import StoppedClock
from tests.conftest import subprocess_database_url
from tests.testapp.models import Note

ROOT = Path(__file__).resolve().parents[2]
TENANT_A, TENANT_B = uuid.UUID(int=0xA), uuid.UUID(int=0xB)


@pytest.fixture(autouse=True)
def _short_key_cache(settings) -> None:
    settings.ENCRYPTION_KEY_CACHE_SECONDS = 1
    keyring.cache_clear()


def _raw_rows() -> dict[uuid.UUID, tuple[bytes | None, ...]]:
    columns = ("body", "attachment", "payload", "summary", "phone", "phone_index")
    return {
        row[0]: tuple(bytes(value) if value is not None else None for value in row[1:])
        for row in Note.objects.values_list("pk", *columns)
    }


def _key(owner: uuid.UUID | str, purpose: str) -> DataKey:
    return DataKey.objects.get(owner=str(owner), purpose=purpose, state=KeyState.ACTIVE)


@pytest.mark.django_db
def test_kek_rotation_rewraps_keys_and_changes_no_data_row() -> None:
    Note.objects.create(tenant_id=TENANT_A, body="hello", summary="subject", phone="+14155550100")
    before = _raw_rows()
    old_kek = KeyEncryptionKey.objects.get(owner=str(TENANT_A))

    rewrapped = services.kek_rotate(owner=str(TENANT_A))
    keyring.cache_clear()

    assert rewrapped == DataKey.objects.filter(owner=str(TENANT_A)).count() == 3
    assert _raw_rows() == before
    assert set(DataKey.objects.filter(owner=str(TENANT_A)).values_list("kek_version", flat=True)) == {2}
    assert KeyEncryptionKey.objects.get(pk=old_kek.pk).state == KeyState.DESTROYED
    note = Note.objects.get()
    assert (note.body, note.summary, note.phone) == ("hello", "subject", "+14155550100")
    assert AuditEvent.objects.filter(action=AuditAction.KEY_ROTATED, tenant_id=TENANT_A).count() == 1


@pytest.mark.django_db
def test_root_rotation_rewraps_keks_only(settings) -> None:
    Note.objects.create(tenant_id=TENANT_A, body="hello")
    before = _raw_rows()
    settings.GATEWAY_ROOT_KEYS = f"{settings.GATEWAY_ROOT_KEYS},{new_root_key_entry(2)}"
    providers.root_provider.cache_clear()
    try:
        assert services.root_rewrap() == KeyEncryptionKey.objects.count()
        assert set(KeyEncryptionKey.objects.values_list("root_version", flat=True)) == {2}
        settings.GATEWAY_ROOT_KEYS = settings.GATEWAY_ROOT_KEYS.split(",")[1]  # version 1 retired
        providers.root_provider.cache_clear()
        keyring.cache_clear()
        assert Note.objects.get().body == "hello"
        assert _raw_rows() == before
    finally:
        providers.root_provider.cache_clear()


@pytest.mark.django_db
def test_subject_rotation_reencrypts_every_row_and_leaves_none_on_the_old_key() -> None:
    Note.objects.bulk_create(Note(tenant_id=TENANT_A, summary=f"summary {index}") for index in range(300))
    Note.objects.create(tenant_id=TENANT_B, summary="other tenant")
    old = _key(TENANT_A, Purpose.SUBJECT)
    b_before = _raw_rows()

    [replaced] = services.data_keys_rotate(owner=str(TENANT_A), purpose=Purpose.SUBJECT)
    moved = services.rows_reencrypt(key_ids=[replaced], batch_size=64)

    assert replaced == old.pk and moved == 300
    counts = services.rows_per_key()
    assert old.pk not in counts
    assert counts[_key(TENANT_A, Purpose.SUBJECT).pk] == 300
    keyring.cache_clear()
    texts = {note.summary for note in Note.objects.filter(tenant_id=TENANT_A)}
    assert texts == {f"summary {index}" for index in range(300)}
    b_note = Note.objects.get(tenant_id=TENANT_B)
    assert _raw_rows()[b_note.pk] == b_before[b_note.pk]
    assert DataKey.objects.get(pk=old.pk).state == KeyState.DECRYPT_ONLY


@pytest.mark.django_db
def test_day_keys_are_not_rotated() -> None:
    Note.objects.create(tenant_id=TENANT_A, body="x")

    with pytest.raises(KeyOperationError, match="not rotated"):
        services.data_keys_rotate(owner=str(TENANT_A), purpose=Purpose.CONTENT)


@pytest.mark.django_db
def test_blind_index_rotation_keeps_lookups_working_throughout() -> None:
    note = Note.objects.create(tenant_id=TENANT_A, phone="+1 415 555 0100")
    Note.objects.create(tenant_id=TENANT_B, phone="+14155550100")

    def found() -> list[uuid.UUID]:
        query = blind_index_filter(Note, "phone_index", tenant_id=TENANT_A, value="0014155550100")
        return list(Note.objects.filter(query, tenant_id=TENANT_A).values_list("pk", flat=True))

    assert found() == [note.pk]
    [old] = services.data_keys_rotate(owner=str(TENANT_A), purpose=Purpose.BLIND_INDEX)
    assert found() == [note.pk]  # the old key still answers lookups mid-rotation
    assert services.rows_reencrypt(key_ids=[old]) == 1

    assert found() == [note.pk]
    assert services.rows_per_key().get(old, 0) == 0


@pytest.mark.django_db
def test_destroying_a_day_key_shreds_its_values_and_only_them(monkeypatch: pytest.MonkeyPatch) -> None:
    shredded = Note.objects.create(tenant_id=TENANT_A, body="gone", summary="kept")
    survivor = Note.objects.create(tenant_id=TENANT_B, body="still here")
    day_key = _key(TENANT_A, Purpose.CONTENT)
    clock = StoppedClock(timezone.now())
    monkeypatch.setattr(services, "timezone", clock)

    services.data_key_schedule_destroy(key=day_key)
    assert DataKey.objects.get(pk=day_key.pk).destroy_after == clock.at + timedelta(seconds=1)  # the cache time
    clock.at += timedelta(milliseconds=999)
    with pytest.raises(KeyOperationError, match="not due"):
        services.data_key_destroy_now(key=DataKey.objects.get(pk=day_key.pk))
    clock.at += timedelta(milliseconds=1)
    destroyed = services.data_key_destroy_now(key=DataKey.objects.get(pk=day_key.pk))

    assert destroyed.wrapped_key is None and destroyed.state == KeyState.DESTROYED
    with pytest.raises(DecryptionError):
        _ = Note.objects.get(pk=shredded.pk).body
    assert Note.objects.get(pk=shredded.pk).summary == "kept"
    assert Note.objects.get(pk=survivor.pk).body == "still here"
    assert services.canary_opens(destroyed) is False
    assert destroyed.receipt["canary_opens"] is False
    assert destroyed.receipt["rows_still_referencing"] == 1
    event = AuditEvent.objects.get(action=AuditAction.KEY_DESTROYED)
    assert event.tenant_id == TENANT_A and event.details["key_id"] == day_key.pk
    assert services.keys_verify() == (DataKey.objects.count(), [])


@pytest.mark.django_db
def test_a_gate_can_refuse_destruction(monkeypatch: pytest.MonkeyPatch) -> None:
    Note.objects.create(tenant_id=TENANT_A, body="held")
    monkeypatch.setattr(services, "_destroy_gates", [lambda key: "a legal hold covers it"])

    with pytest.raises(KeyOperationError, match="a legal hold covers it"):
        services.data_key_schedule_destroy(key=_key(TENANT_A, Purpose.CONTENT))
    assert _key(TENANT_A, Purpose.CONTENT).state == KeyState.ACTIVE


@pytest.mark.django_db
def test_verify_reports_a_live_key_whose_canary_no_longer_opens() -> None:
    Note.objects.create(tenant_id=TENANT_A, body="x")
    key = _key(TENANT_A, Purpose.CONTENT)
    damaged = bytearray(bytes(key.canary))
    damaged[-1] ^= 1
    DataKey.objects.filter(pk=key.pk).update(canary=bytes(damaged))

    checked, problems = services.keys_verify()
    assert checked == DataKey.objects.count()

    assert [(problem.key_id, problem.problem) for problem in problems] == [
        (key.pk, "active key does not open its canary")
    ]
    with pytest.raises(CommandError, match="1 of"):
        call_command("keys", "verify", stdout=io.StringIO())


@pytest.mark.django_db
def test_status_lists_rows_per_key_as_json() -> None:
    Note.objects.bulk_create(Note(tenant_id=TENANT_A, body="x", summary="y") for _ in range(3))
    out = io.StringIO()

    call_command("keys", "status", "--owner", str(TENANT_A), "--json", stdout=out)

    rows = {(row["purpose"], row["state"]): row["rows"] for row in json.loads(out.getvalue())}
    assert rows == {("content", "active"): 3, ("subject", "active"): 3}


@pytest.mark.django_db
def test_command_refuses_bad_input_clearly() -> None:
    with pytest.raises(CommandError, match="must be a tenant id"):
        call_command("keys", "rotate", "--purpose", "subject", "--owner", "acme")
    with pytest.raises(CommandError, match="no key with id"):
        call_command("keys", "destroy", "999999")
    with pytest.raises(CommandError, match="--owner is required"):
        call_command("keys", "rotate", "--kek")


@pytest.mark.django_db
def test_operator_secrets_rotate_like_any_other_purpose() -> None:
    from accounts.mfa import totp_device_provision
    from accounts.models import TotpDevice, User

    user = User.objects.create_user("op@gateway.example", "x" * 20)
    seed = totp_device_provision(user=user).key
    old = _key(OPERATOR, Purpose.SECRET)

    call_command("keys", "rotate", "--owner", OPERATOR, "--purpose", "secret", stdout=io.StringIO())

    keyring.cache_clear()
    assert TotpDevice.objects.get(user=user).key == seed
    assert services.rows_per_key().get(old.pk, 0) == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rotation_of_20000_rows_survives_being_killed_half_way() -> None:
    Note.objects.bulk_create(
        (Note(tenant_id=TENANT_A, summary=f"row {index}") for index in range(20_000)), batch_size=2_000
    )
    old = _key(TENANT_A, Purpose.SUBJECT)
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "GATEWAY_KEY_CACHE_SECONDS": "1",
    }
    command = [
        sys.executable,
        "manage.py",
        "keys",
        "rotate",
        "--owner",
        str(TENANT_A),
        "--purpose",
        "subject",
        "--batch-size",
        "250",
    ]

    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while services.rows_per_key().get(old.pk, 20_000) > 12_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill()
    first.wait()
    left_after_kill = services.rows_per_key().get(old.pk, 0)
    resumed = subprocess.run(
        [*command, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )

    assert 0 < left_after_kill < 20_000, "the first run should have been stopped half-way"
    assert resumed.returncode == 0, resumed.stderr
    assert "0 left on old versions" in resumed.stdout
    counts = services.rows_per_key()
    assert old.pk not in counts
    assert counts[_key(TENANT_A, Purpose.SUBJECT).pk] == 20_000
    keyring.cache_clear()
    failures = 0
    for note in Note.objects.filter(tenant_id=TENANT_A).iterator(chunk_size=2_000):
        try:
            assert note.summary.startswith("row ")
        except DecryptionError:
            failures += 1
    assert failures == 0
