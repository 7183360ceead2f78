"""TOTP seeds, retrofitted into an encrypted field bound to the device's ``uid``: stored sealed, still verifying."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from accounts.mfa import totp_device_provision
from accounts.models import TotpDevice, User
from encryption.envelope import OVERHEAD_BYTES, key_id_of
from encryption.errors import DecryptionError
from encryption.fields import Sealed
from encryption.models import OPERATOR, DataKey, Purpose
from tests.conftest import PASSWORD, totp_code
from tests.encryption.support import fresh, read, stored

ADMIN = "/admin/"
BEFORE = [("accounts", "0001_initial")]
RETROFIT = [("accounts", "0002_encrypt_totp_seeds")]
SEED = "3132333435363738393031323334353637383930"  # RFC 6238's test seed, as django-otp stores it (hex)


@pytest.mark.django_db
def test_a_device_stores_an_envelope_under_the_operator_secret_key(operator_device: TotpDevice) -> None:
    raw = stored(operator_device, "key") or b""
    key = DataKey.objects.get(pk=key_id_of(raw))

    assert raw[0] == 1
    assert len(raw) == OVERHEAD_BYTES + 40
    assert operator_device.key.encode() not in raw
    assert bytes.fromhex(operator_device.key) not in raw
    assert (key.owner, key.purpose, key.scope) == (OPERATOR, Purpose.SECRET, "")
    assert read(fresh(operator_device), "key") == operator_device.key


@pytest.mark.django_db
def test_a_code_from_the_encrypted_seed_logs_in(operator: User, operator_device: TotpDevice) -> None:
    client = Client()
    response = client.post(reverse("accounts:login"), {"email": operator.email, "password": PASSWORD, "next": ADMIN})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:otp"))

    verified = client.post(response["Location"], {"token": totp_code(fresh(operator_device)), "next": ADMIN})

    assert verified.status_code == 302
    assert verified["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200
    assert fresh(operator_device).last_t > -1


@pytest.mark.django_db
def test_a_seed_copied_to_another_device_does_not_open(operator_device: TotpDevice, owner_a: User) -> None:
    other = totp_device_provision(user=owner_a)
    sealed = TotpDevice.objects.filter(pk=operator_device.pk).values_list("key", flat=True).get()
    assert isinstance(sealed, Sealed)

    TotpDevice.objects.filter(pk=other.pk).update(key=sealed)

    with pytest.raises(DecryptionError) as raised:
        read(fresh(other), "key")
    assert str(raised.value) == (
        f"accounts.TotpDevice.key of row {other.uid} cannot be opened: "
        "authentication failed: the value was altered or belongs elsewhere"
    )
    assert operator_device.key not in str(raised.value)


@pytest.fixture
def executor() -> Iterator[MigrationExecutor]:
    """Migrations run for real; whatever happens, the schema ends fully migrated for the tests after this one."""
    executor = MigrationExecutor(connection)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _migrate(executor: MigrationExecutor, targets: list[tuple[str, str]]) -> None:
    executor.loader.build_graph()
    executor.migrate(targets)


def _seed_column(device_id: int) -> bytes | str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM accounts_totpdevice WHERE id = %s", [device_id])
        [value] = cursor.fetchone()
    return value if isinstance(value, str) else bytes(value)


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_existing_seeds_and_unseals_them_on_reversal(executor: MigrationExecutor) -> None:
    _migrate(executor, BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    user = old_apps.get_model("accounts", "User").objects.create(email="staff@gateway.example", password="!")
    device = old_apps.get_model("accounts", "TotpDevice").objects.create(user=user, name="Phone", key=SEED)
    assert _seed_column(device.pk) == SEED

    _migrate(executor, RETROFIT)

    column = _seed_column(device.pk)
    assert isinstance(column, bytes)
    assert column[0] == 1
    assert len(column) == OVERHEAD_BYTES + len(SEED)
    assert SEED.encode() not in column and bytes.fromhex(SEED) not in column
    assert DataKey.objects.get(pk=key_id_of(column)).owner == OPERATOR
    retrofitted = executor.loader.project_state(RETROFIT).apps.get_model("accounts", "TotpDevice")
    migrated = retrofitted.objects.get(pk=device.pk)
    assert migrated.uid is not None
    assert migrated.key == SEED

    _migrate(executor, BEFORE)

    assert _seed_column(device.pk) == SEED


@pytest.mark.django_db(transaction=True)
def test_after_the_migration_the_live_model_reads_the_seed(executor: MigrationExecutor) -> None:
    _migrate(executor, BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    user = old_apps.get_model("accounts", "User").objects.create(email="staff@gateway.example", password="!")
    device_id = old_apps.get_model("accounts", "TotpDevice").objects.create(user=user, name="Phone", key=SEED).pk

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    device = TotpDevice.objects.get(pk=device_id)
    assert device.key == SEED
    assert device.verify_token(totp_code(device)) is True
    assert TotpDevice.objects.get(pk=device_id).last_t > -1
