"""Helpers for the encryption tests: reach the stored bytes behind the ORM's back, open canaries."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.db import connection, models

from core.metrics import metric_value
from encryption import keyring
from encryption.envelope import open_sealed
from encryption.models import DataKey
from tests.testapp.models import Note

DECRYPT_FAILURES = "gateway_decrypt_failures"


def notes() -> models.QuerySet[Note]:
    """Note's default manager (an EncryptedQuerySet at run time), typed for mypy."""
    return Note._default_manager.all()


def note_create(*, tenant_id: uuid.UUID, **values: Any) -> Note:
    return notes().create(tenant_id=tenant_id, **values)


def fresh(instance: models.Model) -> Any:
    """The row as a new instance from the database: nothing opened yet."""
    return type(instance)._default_manager.get(pk=instance.pk)


def read(instance: models.Model, field: str) -> Any:
    """The attribute's value (opens it); typed Any, unlike the BinaryField the stubs see."""
    return getattr(instance, field)


def _location(instance: models.Model, field: str) -> tuple[str, str, str, Any]:
    """(table, column, primary key column, primary key as the backend stores it), quoted where needed."""
    meta, quote = instance._meta, connection.ops.quote_name
    target, primary_key = meta.get_field(field), meta.pk
    assert isinstance(target, models.Field) and primary_key is not None
    assert target.column is not None and primary_key.column is not None
    row_key = primary_key.get_db_prep_value(instance.pk, connection)
    return quote(meta.db_table), quote(target.column), quote(primary_key.column), row_key


def stored(instance: models.Model, field: str) -> bytes | None:
    """The column's bytes as the database holds them (raw SQL, no field conversion)."""
    table, column, primary_key, row_key = _location(instance, field)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {primary_key} = %s", [row_key])  # noqa: S608
        [value] = cursor.fetchone()
    return None if value is None else bytes(value)


def plant(instance: models.Model, field: str, raw: bytes) -> None:
    """Write ``raw`` into the column with SQL, as an attacker with database access could."""
    table, column, primary_key, row_key = _location(instance, field)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {primary_key} = %s", [raw, row_key])  # noqa: S608
        assert cursor.rowcount == 1


def decrypt_failures() -> int:
    return int(metric_value(DECRYPT_FAILURES))


def canary_opens(key_id: int) -> bool:
    """Open the key's canary through the production path (keyring + envelope) and check its digest."""
    key = DataKey.objects.get(pk=key_id)
    cipher = keyring.cipher_for_read(key_id, owner=key.owner)
    plaintext = open_sealed(cipher, bytes(key.canary), keyring.canary_context(key_id))
    return hashlib.sha256(plaintext).hexdigest() == key.canary_sha256
