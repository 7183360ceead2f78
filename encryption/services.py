"""Key operations: rotation (re-encrypt or re-wrap), destruction with gates and receipts, verification, status.

Long jobs run in short transactions of ``batch_size`` rows and are resumable: each step selects only
what is still left (rows under an old key, keys under an old KEK), so a killed run is simply run again.
"""

from __future__ import annotations

import hashlib
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, Func
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from encryption import keyring
from encryption.blind_index import BlindIndexField
from encryption.envelope import open_sealed
from encryption.errors import DecryptionError, KeyOperationError
from encryption.fields import EncryptedField
from encryption.models import OPERATOR, ROTATING_PURPOSES, DataKey, KeyEncryptionKey, KeyState
from encryption.providers import root_provider

Progress = Callable[[int, int], None]
DestroyGate = Callable[[DataKey], str | None]
DEFAULT_BATCH = 500
KEY_ID_BYTES = 4
_destroy_gates: list[DestroyGate] = []


def register_destroy_gate(gate: DestroyGate) -> None:
    """Other apps (legal holds, pending jobs) veto a destruction by returning a reason."""
    if gate not in _destroy_gates:
        _destroy_gates.append(gate)


class KeyIdOf(Func):
    """The 4-byte key id at ``offset`` (1-based) of a stored envelope or blind index, in SQL."""

    template = "substr(%(expressions)s, %(offset)d, 4)"
    output_field = models.BinaryField()

    def __init__(self, expression: str, *, offset: int) -> None:
        super().__init__(expression, offset=offset)

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="substring(%(expressions)s from %(offset)d for 4)", **extra_context
        )


def _packed(key_ids: list[int]) -> list[bytes]:
    return [struct.pack(">I", key_id) for key_id in key_ids]


def _unpacked(value: bytes | memoryview | None) -> int | None:
    return struct.unpack(">I", bytes(value))[0] if value is not None and len(bytes(value)) == KEY_ID_BYTES else None


@dataclass(frozen=True)
class KeyedColumn:
    model: type[models.Model]
    field: models.Field  # type: ignore[type-arg]

    @property
    def offset(self) -> int:
        return 1 if isinstance(self.field, BlindIndexField) else 2  # envelope: version byte first

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field.name}"

    def rows_under(self, key_ids: list[int]) -> models.QuerySet[models.Model]:
        annotated = self.model._base_manager.annotate(key_id_part=KeyIdOf(self.field.attname, offset=self.offset))
        return annotated.filter(key_id_part__in=_packed(key_ids))

    def counts(self) -> dict[int, int]:
        annotated = self.model._base_manager.exclude(**{f"{self.field.attname}__isnull": True}).annotate(
            key_id_part=KeyIdOf(self.field.attname, offset=self.offset)
        )
        rows = annotated.values("key_id_part").annotate(rows=Count("pk")).order_by()
        return {key_id: row["rows"] for row in rows if (key_id := _unpacked(row["key_id_part"])) is not None}


def keyed_columns() -> list[KeyedColumn]:
    """Every column, in every installed model, whose values name a data key."""
    return [
        KeyedColumn(model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedField | BlindIndexField)
    ]


def rows_per_key() -> dict[int, int]:
    totals: dict[int, int] = {}
    for column in keyed_columns():
        for key_id, rows in column.counts().items():
            totals[key_id] = totals.get(key_id, 0) + rows
    return totals


# --- rotation of data keys (re-encrypt) -------------------------------------------------------------


def data_keys_rotate(*, owner: str, purpose: str, scope: str | None = None, actor_label: str = "system") -> list[int]:
    """Make a new version of every active key of (owner, purpose[, scope]) primary; returns the old ids."""
    if purpose not in ROTATING_PURPOSES:
        raise KeyOperationError(f"{purpose} keys are not rotated: they are destroyed when their data must go")
    current = DataKey.objects.filter(owner=owner, purpose=purpose, state=KeyState.ACTIVE)
    if scope is not None:
        current = current.filter(scope=scope)
    old_ids = []
    for key in current:
        with transaction.atomic():
            DataKey.objects.filter(pk=key.pk).update(state=KeyState.DECRYPT_ONLY)
            new = keyring.data_key_create(owner=owner, purpose=purpose, scope=key.scope, version=key.version + 1)
            _audit_key(AuditAction.KEY_ROTATED, key, actor_label, newkey_id_part=new.pk)
        keyring.cache_forget(key.pk)
        old_ids.append(key.pk)
    return old_ids


def rows_reencrypt(*, key_ids: list[int], batch_size: int = DEFAULT_BATCH, progress: Progress | None = None) -> int:
    """Re-seal (or re-index) every row still under ``key_ids`` with the current active keys. Resumable."""
    columns = [column for column in keyed_columns() if column.rows_under(key_ids).exists()]
    total = sum(column.rows_under(key_ids).count() for column in columns)
    done = 0
    for column in columns:
        for batch in _batches(column, key_ids, batch_size):
            done += _reseal_batch(column, batch, set(key_ids))
            if progress:
                progress(done, total)
    return done


def _batches(column: KeyedColumn, key_ids: list[int], batch_size: int) -> Iterator[list[object]]:
    last = None
    while True:
        page = column.rows_under(key_ids).order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        ids = list(page.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return
        last = ids[-1]
        yield ids


def _reseal_batch(column: KeyedColumn, ids: list[object], old: set[int]) -> int:
    name = column.field.name
    with transaction.atomic():
        for instance in column.model._base_manager.select_for_update().filter(pk__in=ids):
            if isinstance(column.field, EncryptedField):
                column.field.reseal_on_save(instance, getattr(instance, name))
            instance.save(update_fields=[name])
    return len(ids)


def wait_for_writers() -> None:
    """Other processes may keep writing with a replaced key for a few seconds (their write cache)."""
    time.sleep(keyring.write_cache_seconds())


# --- KEK and root rotation (re-wrap keys only; data rows are never touched) ---------------------------


def kek_rotate(*, owner: str, actor_label: str = "system", progress: Progress | None = None) -> int:
    """A new KEK version for ``owner``; every data key is re-wrapped under it; the old KEK is wiped."""
    with transaction.atomic():
        old = KeyEncryptionKey.objects.select_for_update().get(owner=owner, state=KeyState.ACTIVE)
        KeyEncryptionKey.objects.filter(pk=old.pk).update(state=KeyState.DECRYPT_ONLY)
        new = keyring.kek_create(owner, old.version + 1)
    rewrapped = keys_rewrap(owner=owner, kek_version=new.version, progress=progress)
    KeyEncryptionKey.objects.filter(owner=owner, state=KeyState.DECRYPT_ONLY).update(
        state=KeyState.DESTROYED, wrapped_key=b""
    )
    audit_record(
        action=AuditAction.KEY_ROTATED,
        tenant_id=_tenant_of(owner),
        actor_label=actor_label,
        target_type="kek",
        target_id=str(new.pk),
        details={"kek_version": new.version, "rewrapped": rewrapped},
    )
    return rewrapped


def keys_rewrap(*, owner: str, kek_version: int, progress: Progress | None = None) -> int:
    pending = DataKey.objects.filter(owner=owner, wrapped_key__isnull=False).exclude(kek_version=kek_version)
    total, done = pending.count(), 0
    while ids := list(pending.order_by("pk").values_list("pk", flat=True)[:DEFAULT_BATCH]):
        with transaction.atomic():
            for key in DataKey.objects.select_for_update().filter(pk__in=ids):
                raw = keyring.dek_unwrap(key)
                key.wrapped_key, key.kek_version = keyring.dek_wrap(key, raw, kek_version), kek_version
                key.save(update_fields=["wrapped_key", "kek_version"])
        done += len(ids)
        if progress:
            progress(done, total)
    keyring.cache_clear()
    return done


def root_rewrap(*, progress: Progress | None = None) -> int:
    """Re-wrap every KEK under the provider's primary root version (after adding a new root version)."""
    provider = root_provider()
    stale = KeyEncryptionKey.objects.exclude(root_version=provider.primary_version).exclude(wrapped_key=b"")
    total, done = stale.count(), 0
    for kek in stale.order_by("pk"):
        with transaction.atomic():
            raw = keyring.kek_unwrap_raw(kek)
            kek.root_version, kek.wrapped_key = provider.wrap(raw, context=keyring.kek_wrap_context(kek))
            kek.save(update_fields=["root_version", "wrapped_key"])
        done += 1
        if progress:
            progress(done, total)
    keyring.cache_clear()
    return done


# --- destruction --------------------------------------------------------------------------------------


def data_key_destroy_refusals(*, key: DataKey) -> list[str]:
    """What the registered gates say against destroying ``key`` now; empty when none objects. Changes nothing."""
    return [reason for gate in _destroy_gates if (reason := gate(key))]


def data_key_schedule_destroy(*, key: DataKey) -> DataKey:
    """Refuse if a gate objects; otherwise stop new writes now and set the destroy time no earlier than
    every process's cache expiry, so no cached copy of the key can outlive its destruction."""
    if key.state == KeyState.DESTROYED:
        raise KeyOperationError(f"key {key.pk} is already destroyed")
    reasons = data_key_destroy_refusals(key=key)
    if reasons:
        raise KeyOperationError(f"key {key.pk} cannot be destroyed: {'; '.join(reasons)}")
    earliest = timezone.now() + timedelta(seconds=keyring.cache_seconds())
    destroy_after = max(key.destroy_after or earliest, earliest)
    DataKey.objects.filter(pk=key.pk).update(state=KeyState.PENDING_DESTROY, destroy_after=destroy_after)
    keyring.cache_forget(key.pk)
    key.refresh_from_db()
    return key


def data_key_destroy_now(
    *, key: DataKey, actor_label: str = "system", rows_by_key: dict[int, int] | None = None
) -> DataKey:
    """Wipe a key whose destroy time has come; keep the tombstone and write a receipt. ``rows_by_key``:
    ``rows_per_key()`` taken already (destroying keys does not change it), so a batch scans the tables once."""
    now = timezone.now()
    if key.state != KeyState.PENDING_DESTROY or key.destroy_after is None or key.destroy_after > now:
        raise KeyOperationError(f"key {key.pk} is not due for destruction")
    fingerprint = hashlib.sha256(bytes(key.wrapped_key or b"")).hexdigest()
    with transaction.atomic():
        DataKey.objects.filter(pk=key.pk).update(state=KeyState.DESTROYED, wrapped_key=None, destroyed_at=now)
        keyring.cache_forget(key.pk)
        key.refresh_from_db()
        key.receipt = _receipt(key, fingerprint, rows_per_key() if rows_by_key is None else rows_by_key)
        key.save(update_fields=["receipt"])
        _audit_key(AuditAction.KEY_DESTROYED, key, actor_label, **key.receipt)
    return key


def data_keys_destroy_due(*, actor_label: str = "system") -> int:
    due = list(DataKey.objects.filter(state=KeyState.PENDING_DESTROY, destroy_after__lte=timezone.now()))
    rows = rows_per_key() if due else {}  # one scan of every encrypted column per batch, not one per key
    return len([data_key_destroy_now(key=key, actor_label=actor_label, rows_by_key=rows) for key in due])


def _receipt(key: DataKey, fingerprint: str, rows_by_key: dict[int, int]) -> dict[str, str | int | bool]:
    destroyed_at = key.destroyed_at or timezone.now()
    horizon = destroyed_at + timedelta(days=settings.ENCRYPTION_KEYSTORE_BACKUP_DAYS)
    return {
        "key_id": key.pk,
        "owner": key.owner,
        "purpose": key.purpose,
        "scope": key.scope,
        "version": key.version,
        "wrapped_key_sha256": fingerprint,
        "destroyed_at": destroyed_at.isoformat(),
        "canary_opens": canary_opens(key),
        "rows_still_referencing": rows_by_key.get(key.pk, 0),
        "backup_horizon": horizon.isoformat(),
    }


# --- verification and status --------------------------------------------------------------------------


def canary_opens(key: DataKey) -> bool:
    """Open the key's canary through the production read path."""
    try:
        cipher = keyring.cipher_for_read(key.pk, owner=key.owner)
        plaintext = open_sealed(cipher, bytes(key.canary), keyring.canary_context(key.pk))
    except DecryptionError:
        return False
    return hashlib.sha256(plaintext).hexdigest() == key.canary_sha256


@dataclass(frozen=True)
class VerifyProblem:
    key_id: int
    problem: str


def keys_verify() -> tuple[int, list[VerifyProblem]]:
    """Every live key opens its canary; every destroyed key does not. Returns (keys checked, problems)."""
    problems, checked = [], 0
    for key in DataKey.objects.order_by("pk").iterator():
        checked += 1
        opens = canary_opens(key)
        live = key.state in keyring.READABLE_STATES and not (key.destroy_after and key.destroy_after <= timezone.now())
        if live and not opens:
            problems.append(VerifyProblem(key.pk, f"{key.state} key does not open its canary"))
        if key.state == KeyState.DESTROYED and opens:
            problems.append(VerifyProblem(key.pk, "destroyed key still opens its canary"))
    return checked, problems


def _tenant_of(owner: str) -> uuid.UUID | None:
    return None if owner == OPERATOR else uuid.UUID(owner)


def _audit_key(action: str, key: DataKey, actor_label: str, **details: str | int | bool) -> None:
    audit_record(
        action=action,
        tenant_id=_tenant_of(key.owner),
        actor_label=actor_label,
        target_type="data_key",
        target_id=str(key.pk),
        details={"purpose": key.purpose, "scope": key.scope, **details},
    )
