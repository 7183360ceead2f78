"""Keys: unknown, destroyed and foreign keys fail closed; the cache never outlives a key; owners never share."""

from __future__ import annotations

import contextlib
import struct
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import models, transaction
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.mfa import totp_device_provision
from accounts.models import Tenant, TotpDevice, User
from encryption import key_cache, keyring
from encryption.envelope import Context, key_id_of, open_sealed, seal
from encryption.errors import DecryptionError, KeyUnavailableError
from encryption.models import OPERATOR, DataKey, KeyEncryptionKey, KeyState, Purpose
from tests.clock import StoppedClock
from tests.encryption.support import (
    canary_opens,
    decrypt_failures,
    fresh,
    note_create,
    plant,
    read,
    stored,
)
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db

CONTENT_FIELDS = ("body", "attachment", "payload")


def _key_id(instance: models.Model, field: str) -> int:
    return key_id_of(stored(instance, field) or b"")


def _cannot_open(instance: models.Model, field: str) -> str:
    with pytest.raises(DecryptionError) as raised:
        read(fresh(instance), field)
    return str(raised.value)


def test_a_value_naming_an_unknown_key_fails(note_a: Note) -> None:
    unknown = DataKey.objects.aggregate(top=models.Max("pk"))["top"] + 1000
    original = stored(note_a, "body") or b""
    plant(note_a, "body", original[:1] + struct.pack(">I", unknown) + original[5:])
    before = decrypt_failures()

    message = _cannot_open(note_a, "body")

    assert message == f"testapp.Note.body of row {note_a.pk} cannot be opened: key {unknown} does not exist"
    assert decrypt_failures() - before == 1
    assert read(fresh(note_a), "payload") == {"text": "alpha payload"}


@pytest.mark.parametrize("wrapped", ["wiped", "left-behind"])
def test_values_under_a_tombstoned_key_fail_and_its_canary_no_longer_opens(
    note_a: Note, other_note_a: Note, note_b: Note, wrapped: str
) -> None:
    content_key = _key_id(note_a, "body")
    survivors = {_key_id(note_a, "summary"), _key_id(note_b, "body")}
    assert {_key_id(other_note_a, field) for field in ("body", "payload")} == {content_key}
    assert all(canary_opens(key.pk) for key in DataKey.objects.all())
    changes: dict[str, object] = {"state": KeyState.DESTROYED, "destroyed_at": timezone.now()}
    if wrapped == "wiped":
        changes["wrapped_key"] = None
    DataKey.objects.filter(pk=content_key).update(**changes)
    keyring.cache_clear()
    before = decrypt_failures()

    messages = [_cannot_open(note, field) for note in (note_a, other_note_a) for field in ("body", "payload")]
    messages.append(_cannot_open(note_a, "attachment"))

    assert set(messages) == {
        f"testapp.Note.{field} of row {note.pk} cannot be opened: key {content_key} is destroyed"
        for note in (note_a, other_note_a)
        for field in ("body", "payload")
    } | {f"testapp.Note.attachment of row {note_a.pk} cannot be opened: key {content_key} is destroyed"}
    assert decrypt_failures() - before == 5
    with pytest.raises(KeyUnavailableError) as raised:
        canary_opens(content_key)
    assert str(raised.value) == f"key {content_key} is destroyed"
    assert all(canary_opens(key_id) for key_id in survivors)
    assert read(fresh(note_a), "summary") == "alpha subject"
    assert read(fresh(note_b), "body") == "bravo secret"


def test_a_new_key_replaces_a_tombstoned_key(note_a: Note, tenant_a: Tenant) -> None:
    old_key = _key_id(note_a, "body")
    DataKey.objects.filter(pk=old_key).update(state=KeyState.DESTROYED, wrapped_key=None)
    keyring.cache_clear()

    later = note_create(tenant_id=tenant_a.id, body="written after")

    new_key = DataKey.objects.get(pk=_key_id(later, "body"))
    assert new_key.pk != old_key
    assert (new_key.owner, new_key.purpose, new_key.scope, new_key.version) == (
        str(tenant_a.id),
        Purpose.CONTENT,
        "2030-01-01",
        2,
    )
    assert read(fresh(later), "body") == "written after"


def _totp_context(device: TotpDevice) -> Context:
    return Context(tenant_id=None, model="accounts.TotpDevice", field="key", row_id=device.uid)


def _note_context(note: Note) -> Context:
    return Context(tenant_id=note.tenant_id, model="testapp.Note", field="body", row_id=note.pk)


@pytest.mark.parametrize("source", ["tenant-a-key", "operator-key"])
def test_a_key_of_another_owner_is_refused_even_in_a_well_formed_envelope(
    note_a: Note, note_b: Note, operator_device: TotpDevice, source: str
) -> None:
    """The forged value is a valid envelope for note_b's body: only the owner check stands in the way."""
    key_id = _key_id(note_a, "body") if source == "tenant-a-key" else _key_id(operator_device, "key")
    owner = str(note_a.tenant_id) if source == "tenant-a-key" else OPERATOR
    cipher = keyring.cipher_for_read(key_id, owner=owner)
    forged = seal(cipher, key_id, b"forged by the database", _note_context(note_b))
    assert open_sealed(cipher, forged, _note_context(note_b)) == b"forged by the database"
    plant(note_b, "body", forged)

    message = _cannot_open(note_b, "body")

    assert message == f"testapp.Note.body of row {note_b.pk} cannot be opened: key {key_id} belongs to another owner"


def test_a_tenant_key_is_refused_for_an_operator_secret(note_a: Note, operator_device: TotpDevice) -> None:
    key_id = _key_id(note_a, "body")
    cipher = keyring.cipher_for_read(key_id, owner=str(note_a.tenant_id))
    plant(operator_device, "key", seal(cipher, key_id, b"00" * 20, _totp_context(operator_device)))

    message = _cannot_open(operator_device, "key")

    assert message == (
        f"accounts.TotpDevice.key of row {operator_device.uid} cannot be opened: key {key_id} belongs to another owner"
    )


def test_a_cached_key_expires_at_the_key_deadline_not_the_cache_ttl(
    settings: Settings,
    tenant_a: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    django_assert_num_queries: Any,
) -> None:
    settings.ENCRYPTION_KEY_CACHE_SECONDS = 3600
    clock = StoppedClock(timezone.now())
    monkeypatch.setattr(keyring, "time", clock)
    monkeypatch.setattr(keyring, "timezone", clock)
    destroy_after = clock.at + timedelta(seconds=1.5)
    key = keyring.data_key_active(
        owner=str(tenant_a.id), purpose=Purpose.CONTENT, scope="2030-01-01", destroy_after=destroy_after
    )
    with django_capture_on_commit_callbacks(execute=True):  # the keyring may cache only what was committed
        note = note_create(tenant_id=tenant_a.id, body="short-lived")
        assert read(fresh(note), "body") == "short-lived"
    assert _key_id(note, "body") == key.pk
    clock.at = destroy_after - timedelta(milliseconds=1)
    loaded = fresh(note)
    with django_assert_num_queries(0):  # served from the cache, whose TTL is an hour
        assert read(loaded, "body") == "short-lived"

    clock.at = destroy_after

    message = _cannot_open(note, "body")
    assert message == f"testapp.Note.body of row {note.pk} cannot be opened: key {key.pk} is past its destroy time"
    assert DataKey.objects.get(pk=key.pk).state == KeyState.ACTIVE  # nothing but the clock said no


def test_tenants_and_the_operator_never_share_keys(note_a: Note, note_b: Note, operator: User) -> None:
    device = totp_device_provision(user=operator)
    tenant_a, tenant_b = str(note_a.tenant_id), str(note_b.tenant_id)

    keys = {(key.owner, key.purpose): key for key in DataKey.objects.all()}

    assert set(keys) == {
        (tenant_a, Purpose.CONTENT),
        (tenant_a, Purpose.SUBJECT),
        (tenant_b, Purpose.CONTENT),
        (OPERATOR, Purpose.SECRET),
    }
    assert _key_id(note_a, "body") == keys[tenant_a, Purpose.CONTENT].pk
    assert _key_id(note_a, "summary") == keys[tenant_a, Purpose.SUBJECT].pk
    assert _key_id(note_b, "body") == keys[tenant_b, Purpose.CONTENT].pk
    assert _key_id(device, "key") == keys[OPERATOR, Purpose.SECRET].pk
    assert sorted(KeyEncryptionKey.objects.values_list("owner", flat=True)) == sorted([tenant_a, tenant_b, OPERATOR])
    assert len({bytes(key.wrapped_key or b"") for key in keys.values()}) == 4
    a_key, b_key = keys[tenant_a, Purpose.CONTENT], keys[tenant_b, Purpose.CONTENT]
    b_cipher = keyring.cipher_for_read(b_key.pk, owner=tenant_b)
    with pytest.raises(DecryptionError):  # different key material, not just a different label
        open_sealed(b_cipher, bytes(a_key.canary), keyring.canary_context(a_key.pk))


class _RolledBackError(Exception):
    pass


def _create_and_roll_back(tenant_id: uuid.UUID) -> None:
    """The first value of a new owner, in a transaction that then fails: its KEK and data key vanish."""
    with contextlib.suppress(_RolledBackError), transaction.atomic():
        note_create(tenant_id=tenant_id, body="rolled back")
        raise _RolledBackError
    assert not DataKey.objects.filter(owner=str(tenant_id)).exists()


def test_a_key_created_in_a_rolled_back_transaction_is_not_used_afterwards(tenant_a: Tenant) -> None:
    """A cached key whose row rolled back would seal values under a key id that has no row: never to open."""
    _create_and_roll_back(tenant_a.id)
    note = note_create(tenant_id=tenant_a.id, body="committed")
    keyring.cache_clear()  # another process, or this one after the cache entry expired

    assert read(fresh(note), "body") == "committed"


def test_a_kek_created_in_a_rolled_back_transaction_does_not_wrap_later_keys(tenant_a: Tenant) -> None:
    """A new KEK row gets the same (owner, version): a cached, vanished KEK would wrap the next data key."""
    _create_and_roll_back(tenant_a.id)
    note = note_create(tenant_id=tenant_a.id, summary="under a new subject key")
    keyring.cache_clear()

    assert read(fresh(note), "summary") == "under a new subject key"


def test_keys_and_kek_of_a_new_owner_are_created_once(tenant_a: Tenant) -> None:
    first = note_create(tenant_id=tenant_a.id, body="one")
    keyring.cache_clear()
    second = note_create(tenant_id=tenant_a.id, body="two")

    assert _key_id(first, "body") == _key_id(second, "body")
    assert KeyEncryptionKey.objects.filter(owner=str(tenant_a.id)).count() == 1
    assert DataKey.objects.filter(owner=str(tenant_a.id)).count() == 1
    assert uuid.UUID(DataKey.objects.get().owner) == tenant_a.id


@pytest.mark.django_db(transaction=True)  # keys made in a transaction are cached once it commits
def test_the_key_caches_stay_bounded_and_a_key_dropped_from_them_is_loaded_again(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_cache, "CACHE_ENTRIES_MAX", 8)
    contexts = [Context(tenant_id=tenant_a.id, model="testapp.Note", field="body", row_id=index) for index in range(20)]
    sealed = []
    for index, context in enumerate(contexts):  # a subject key per contact, as a worker sending to many meets them
        key_id, cipher = keyring.cipher_for_write(tenant_id=tenant_a.id, purpose=Purpose.SUBJECT, scope=f"c-{index}")
        sealed.append(seal(cipher, key_id, b"hello", context))

    assert 6 <= len(key_cache.write_cache) <= 8  # the keys were cached, then trimmed
    assert 6 <= len(key_cache.read_cache) <= 8
    assert key_id_of(sealed[-1]) in key_cache.read_cache
    first_key = key_id_of(sealed[0])
    assert first_key not in key_cache.read_cache  # stored longest ago: gone first
    owner = keyring.owner_of(tenant_a.id)
    assert open_sealed(keyring.cipher_for_read(first_key, owner=owner), sealed[0], contexts[0]) == b"hello"
    assert first_key in key_cache.read_cache
