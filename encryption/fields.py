"""Encrypted model fields: sealed in ``pre_save`` with row-bound associated data, opened lazily on access.

``from_db_value`` never sees the row, so a loaded value stays sealed until the attribute is read;
then the descriptor opens it with the row's context (tenant, model, field, row id). Everything fails
closed: a value that does not open raises ``DecryptionError`` (and counts a metric and logs ids only),
never returns the stored bytes. Lookups other than ``isnull``, ordering, and writing plaintext through
``QuerySet.update()`` / ``bulk_update()`` raise ``EncryptedFieldMisuseError``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.functional import cached_property

from core.metrics import metric_increment
from encryption import keyring
from encryption.descriptor import EncryptedDescriptor
from encryption.envelope import Context, aad_stem, column_prefix, seal_with_stem
from encryption.errors import ContentExpiredError, DecryptionError, EncryptedFieldMisuseError
from encryption.values import OPENED_RECORD, ORIGIN_SNAPSHOT, Opened, Origin, RowContext, Sealed, row_context_of

__all__ = [
    "ContentExpiredError",
    "EncryptedBytesField",
    "EncryptedField",
    "EncryptedJSONField",
    "EncryptedTextField",
    "Sealed",
]

logger = logging.getLogger(__name__)

ScopeFunction = Callable[[Any], str]
ExpiredFunction = Callable[[Any], bool]
Decoder = Callable[[bytes], Any]

# The C scanner json.loads ends in, without its Python frames: (value, end), or StopIteration when no value starts.
_JSON_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def json_decode(encoded: bytes) -> Any:
    """As ``json.loads(encoded)``; ``EncryptedJSONField.encode`` writes UTF-8 without surrounding whitespace, so
    the scanner alone reads it (``json.loads`` adds encoding detection and two whitespace matches to every value)."""
    text = encoded.decode("utf-8", "surrogatepass")
    try:
        value, end = _JSON_SCAN(text, 0)
    except StopIteration:  # leading whitespace, or not JSON: the full parser answers (or raises)
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


class EncryptedField(models.BinaryField):  # type: ignore[type-arg]
    """Base of the encrypted fields; subclasses choose how a value becomes bytes.

    ``purpose`` picks the data key family (encryption.models.Purpose); ``tenant_attribute`` names the
    attribute holding the owning tenant's id (None: operator keys); ``scope`` picks the key within the
    purpose (a day bucket, a contact id), as a constant or a function of the instance (a function is not
    kept in migrations: data migrations see the constant scope only); ``row_id_attribute`` names a value
    known before insert (UUID primary keys are); ``expired``, a function of the instance, refuses the value
    (``ContentExpiredError``) on access once it says the row's retention has run out (not kept in migrations).
    """

    description = "Encrypted value"
    model_label = ""

    def __init__(
        self,
        *args: Any,
        purpose: str = "",
        tenant_attribute: str | None = "tenant_id",
        scope: str | ScopeFunction = "",
        row_id_attribute: str = "pk",
        expired: ExpiredFunction | None = None,
        **kwargs: Any,
    ) -> None:
        self.purpose = purpose
        self.expired = expired
        self.tenant_attribute = tenant_attribute
        self.scope = scope
        self.row_id_attribute = row_id_attribute
        # The instance attribute holding the tenant and row id as loaded, shared by fields that bind alike.
        self.snapshot_attribute = f"{ORIGIN_SNAPSHOT}:{tenant_attribute or ''}:{row_id_attribute}"
        self.column_prefixes: dict[str, bytes] = {}  # this column's part of the associated data, by key owner
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.update(
            purpose=self.purpose, tenant_attribute=self.tenant_attribute, row_id_attribute=self.row_id_attribute
        )
        if isinstance(self.scope, str) and self.scope:
            kwargs["scope"] = self.scope
        return name, path, args, kwargs

    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only)
        self.model_label = cls._meta.label
        self.column_prefixes = {}  # a field copied from an abstract model binds to its own model
        self.opened_attribute = f"{OPENED_RECORD}:{self.attname}"
        setattr(cls, self.attname, EncryptedDescriptor(self))

    # --- codec: bytes as they are; the text and JSON fields override encode and decoder ---

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"{self.label} holds bytes, got {type(value).__name__}")
        return bytes(value)

    def decode(self, encoded: bytes) -> Any:
        decoder = self.decoder()
        return encoded if decoder is None else decoder(encoded)

    def decoder(self) -> Decoder | None:
        """The function that turns the encoded bytes into the value (None: they are the value)."""
        return None

    # --- where a value belongs, and its keys ---

    @property
    def label(self) -> str:
        return f"{self.model_label}.{self.name}"

    @cached_property
    def row_field(self) -> models.Field:  # type: ignore[type-arg]
        meta = self.model._meta
        return meta.pk if self.row_id_attribute == "pk" else meta.get_field(self.row_id_attribute)  # type: ignore[return-value]

    def origin(self, instance: models.Model) -> Origin:
        """(tenant id, row id) in canonical form, so "7" and 7, or a UUID and its text, bind the same way."""
        raw_row = getattr(instance, self.row_field.attname)
        if raw_row is None:
            raise EncryptedFieldMisuseError(f"{self.label}: the row id must be known before the value is sealed")
        raw_tenant = getattr(instance, self.tenant_attribute) if self.tenant_attribute else None
        return _as_uuid(raw_tenant), self.row_field.to_python(raw_row)

    def raw_origin(self, loaded: dict[str, Any]) -> tuple[Any, Any] | None:
        """The tenant and row id as they stand in a half-built instance's ``__dict__`` (None if not there)."""
        if self.tenant_attribute and self.tenant_attribute not in loaded:
            return None
        row = loaded.get(self.row_field.attname)
        return None if row is None else (loaded.get(self.tenant_attribute) if self.tenant_attribute else None, row)

    def row_context(self, instance: models.Model) -> RowContext:
        """Where the instance's stored values belong: its tenant and row id as loaded (built once per row)."""
        state = instance.__dict__
        entry = state.get(self.snapshot_attribute)
        if entry.__class__ is RowContext:
            return entry
        if entry is None:  # not loaded from the database: its values belong where it stands now
            return row_context_of(self.origin(instance))
        tenant_id, row_id = entry
        if tenant_id.__class__ is not uuid.UUID:  # as loaded, both are usually canonical already
            tenant_id = _as_uuid(tenant_id)
        if row_id.__class__ is not uuid.UUID:
            row_id = self.row_field.to_python(row_id)
        row = state[self.snapshot_attribute] = row_context_of((tenant_id, row_id))
        return row

    def column_prefix(self, row: RowContext) -> bytes:
        """The associated data's part for this column when its key owner is the row's (cached per owner)."""
        prefix = self.column_prefixes.get(row.owner)
        if prefix is None:
            prefix = self.column_prefixes[row.owner] = column_prefix(row.origin[0], self.model_label, self.name)
        return prefix

    def context(self, instance: models.Model, origin: Origin | None = None) -> Context:
        tenant_id, row_id = origin or self.origin(instance)
        return Context(tenant_id=tenant_id, model=self.model_label, field=self.name, row_id=row_id)

    def tenant_of(self, instance: models.Model) -> uuid.UUID | None:
        return _as_uuid(getattr(instance, self.tenant_attribute)) if self.tenant_attribute else None

    def scope_for(self, instance: models.Model) -> str:
        return self.scope(instance) if callable(self.scope) else self.scope

    def seal_value(self, instance: models.Model, value: Any) -> Opened:
        origin = self.origin(instance)
        tenant_id, row_id = origin
        key_id, cipher = keyring.cipher_for_write(
            tenant_id=tenant_id, purpose=self.purpose, scope=self.scope_for(instance)
        )
        encoded = self.encode(value)
        stem = aad_stem(tenant_id, self.model_label, self.name, row_id)
        return (value, encoded, Sealed(seal_with_stem(cipher, key_id, encoded, stem)), origin)

    def opened(self, sealed: Sealed, row: RowContext) -> Opened:
        """``sealed`` opened where ``row`` says it belongs (the descriptor's read does the same in one frame)."""
        encoded = self.open_in_row(sealed, row)
        return (self.decode(encoded), encoded, sealed, row.origin)

    def open_bytes(self, instance: models.Model, sealed: bytes) -> bytes:
        """The plaintext bytes of ``sealed``, bound to where the instance stands now."""
        return self.open_in_row(sealed, row_context_of(self.origin(instance)))

    def open_in_row(self, sealed: bytes, row: RowContext) -> bytes:
        try:
            return keyring.open_envelope(sealed, row.owner, self.column_prefix(row) + row.row_tail)
        except DecryptionError as error:
            raise self.unopened(row, error) from None

    def unopened(self, row: RowContext, error: DecryptionError) -> DecryptionError:
        """Counts and logs (ids only) a value that did not open; the error to raise in its place."""
        metric_increment("gateway_decrypt_failures", model=self.model_label, field=self.name)
        logger.warning(
            "encrypted value did not open",
            extra={
                "model": self.model_label,
                "field": self.name,
                "row_id": str(row.origin[1]),
                "reason": type(error).__name__,
            },
        )
        return DecryptionError(f"{self.label} of row {row.origin[1]} cannot be opened: {error}")

    def load_deferred(self, instance: models.Model) -> Sealed | None:
        """A deferred column, fetched as stored (not through refresh_from_db, which would open and reseal it)."""
        raw = type(instance)._base_manager.filter(pk=instance.pk).values_list(self.attname, flat=True).get()
        return None if raw is None else Sealed(raw)

    # --- ORM integration ---

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Sealed | None:
        return None if value is None else Sealed(value)

    def to_python(self, value: Any) -> Any:
        return value

    def pre_save(self, model_instance: models.Model, add: bool) -> Sealed | None:
        state = model_instance.__dict__
        current = state.get(self.attname)
        if current is None:
            return None
        origin = self.origin(model_instance)
        if isinstance(current, Sealed):
            row = self.row_context(model_instance)
            if row.origin == origin:
                return current
            current = self.opened(current, row)[0]  # the row was copied or moved: reseal its plaintext
        else:
            kept = self.sealed_unchanged(state.get(self.opened_attribute), current, origin)
            if kept is not None:
                return kept
        record = state[self.opened_attribute] = self.seal_value(model_instance, current)
        state[self.attname] = current
        return record[2]

    def sealed_unchanged(self, record: Opened | None, current: Any, origin: Origin) -> Sealed | None:
        """The ciphertext of ``record`` if ``current`` is still the value it holds, unchanged (a dict or a list can
        change in place), in the same tenant and row; else None."""
        if record is None or record[0] is not current or record[3] != origin:
            return None
        return record[2] if self.encode(current) == record[1] else None

    def reseal_on_save(self, instance: models.Model, plaintext: Any) -> None:
        """Leave ``plaintext`` to be sealed again on ``save()`` (under the key the field picks then), even if it
        is the very value the stored one opens to: key rotation and hold re-keying move values this way."""
        instance.__dict__.pop(self.opened_attribute, None)
        instance.__dict__[self.attname] = plaintext

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if value is None:
            return None
        if not isinstance(value, Sealed):
            raise EncryptedFieldMisuseError(
                f"{self.label}: encrypted values are written only through Model.save(), "
                "not QuerySet.update(), bulk_update() or lookups"
            )
        return super().get_db_prep_value(bytes(value), connection, prepared)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise EncryptedFieldMisuseError(f"{self.label}: encrypted fields support only the isnull lookup")

    def get_transform(self, lookup_name: str) -> Any:
        raise EncryptedFieldMisuseError(f"{self.label}: encrypted fields have no transforms")

    def value_to_string(self, obj: models.Model) -> str:
        return "<encrypted>"  # serialisation (dumpdata) never writes plaintext or ciphertext


class EncryptedTextField(EncryptedField):
    description = "Encrypted text"

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise TypeError(f"{self.label} holds text, got {type(value).__name__}")
        return value.encode()

    def decoder(self) -> Decoder:
        return bytes.decode


class EncryptedBytesField(EncryptedField):
    description = "Encrypted bytes"


class EncryptedJSONField(EncryptedField):
    description = "Encrypted JSON"

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def decoder(self) -> Decoder:
        return json_decode


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))
