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
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from core.metrics import metric_increment
from encryption import keyring
from encryption.envelope import Context, key_id_of, open_sealed, seal
from encryption.errors import DecryptionError, EncryptedFieldMisuseError

logger = logging.getLogger(__name__)

ScopeFunction = Callable[[models.Model], str]


class Sealed(bytes):
    """A value as stored: ciphertext. Its repr names the key, never the bytes."""

    def __repr__(self) -> str:
        try:
            return f"<Sealed {len(self)} bytes under key {key_id_of(self)}>"
        except DecryptionError:
            return f"<Sealed {len(self)} bytes, not an envelope>"

    __str__ = __repr__


@dataclass(frozen=True)
class Opened:
    """A value that was opened (or sealed) for this instance: its plaintext, its encoding and its ciphertext."""

    value: Any
    encoded: bytes
    sealed: Sealed


class EncryptedDescriptor:
    def __init__(self, field: EncryptedField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        attname = self.field.attname
        if attname not in instance.__dict__:
            instance.refresh_from_db(fields=[attname])  # a deferred field, as Django's own descriptor does
        current = instance.__dict__[attname]
        if isinstance(current, Sealed):
            encoded = self.field.open_bytes(instance, current)
            current = Opened(self.field.decode(encoded), encoded, current)
            instance.__dict__[attname] = current
        return current.value if isinstance(current, Opened) else current

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedField(models.BinaryField):  # type: ignore[type-arg]
    """Base of the encrypted fields; subclasses choose how a value becomes bytes.

    ``purpose`` picks the data key family (encryption.models.Purpose); ``tenant_attribute`` names the
    attribute holding the owning tenant's id (None: operator keys); ``scope`` picks the key within the
    purpose (a day bucket, a contact id), as a constant or a function of the instance; ``row_id_attribute``
    names a value known before insert (UUID primary keys are).
    """

    description = "Encrypted value"

    def __init__(
        self,
        *args: Any,
        purpose: str = "",
        tenant_attribute: str | None = "tenant_id",
        scope: str | ScopeFunction = "",
        row_id_attribute: str = "pk",
        **kwargs: Any,
    ) -> None:
        self.purpose = purpose
        self.tenant_attribute = tenant_attribute
        self.scope = scope
        self.row_id_attribute = row_id_attribute
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
        setattr(cls, self.attname, EncryptedDescriptor(self))

    # --- codec (subclasses) ---

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, encoded: bytes) -> Any:
        raise NotImplementedError

    # --- context and keys ---

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.name}"

    def context(self, instance: models.Model) -> Context:
        row_id = getattr(instance, self.row_id_attribute)
        if row_id is None:
            raise EncryptedFieldMisuseError(f"{self.label}: the row id must be known before the value is sealed")
        tenant_id = getattr(instance, self.tenant_attribute) if self.tenant_attribute else None
        return Context(tenant_id=_as_uuid(tenant_id), model=self.model._meta.label, field=self.name, row_id=row_id)

    def scope_for(self, instance: models.Model) -> str:
        return self.scope(instance) if callable(self.scope) else self.scope

    def seal_value(self, instance: models.Model, value: Any) -> Opened:
        context = self.context(instance)
        key_id, cipher = keyring.cipher_for_write(
            tenant_id=context.tenant_id, purpose=self.purpose, scope=self.scope_for(instance)
        )
        encoded = self.encode(value)
        return Opened(value, encoded, Sealed(seal(cipher, key_id, encoded, context)))

    def open_bytes(self, instance: models.Model, sealed: bytes) -> bytes:
        context = self.context(instance)
        try:
            cipher = keyring.cipher_for_read(key_id_of(sealed), owner=keyring.owner_of(context.tenant_id))
            return open_sealed(cipher, sealed, context)
        except DecryptionError as error:
            metric_increment("encryption.decrypt_failures", model=context.model, field=self.name)
            logger.warning(
                "encrypted value did not open",
                extra={
                    "model": context.model,
                    "field": self.name,
                    "row_id": str(context.row_id),
                    "reason": type(error).__name__,
                },
            )
            raise DecryptionError(f"{self.label} of row {context.row_id} cannot be opened: {error}") from None

    # --- ORM integration ---

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Sealed | None:
        return None if value is None else Sealed(bytes(value))

    def to_python(self, value: Any) -> Any:
        return value

    def pre_save(self, model_instance: models.Model, add: bool) -> Sealed | None:
        current = model_instance.__dict__.get(self.attname)
        if current is None or isinstance(current, Sealed):
            return current
        if isinstance(current, Opened):
            if self.encode(current.value) == current.encoded:
                return current.sealed
            current = current.value  # changed in place (a dict, a list): seal it again
        opened = self.seal_value(model_instance, current)
        model_instance.__dict__[self.attname] = opened
        return opened.sealed

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

    def decode(self, encoded: bytes) -> str:
        return encoded.decode()


class EncryptedBytesField(EncryptedField):
    description = "Encrypted bytes"

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"{self.label} holds bytes, got {type(value).__name__}")
        return bytes(value)

    def decode(self, encoded: bytes) -> bytes:
        return encoded


class EncryptedJSONField(EncryptedField):
    description = "Encrypted JSON"

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, encoded: bytes) -> Any:
        return json.loads(encoded)


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def encrypted_fields(model: type[models.Model]) -> list[EncryptedField]:
    return [field for field in model._meta.concrete_fields if isinstance(field, EncryptedField)]


class EncryptedQuerySet(models.QuerySet[Any]):
    """Refuses ordering and DISTINCT ON by encrypted fields (the order of ciphertexts means nothing), and
    plaintext in ``update()`` / ``bulk_update()`` before any SQL runs (the field itself refuses too)."""

    def update(self, **kwargs: Any) -> int:
        for name, value in kwargs.items():
            if name in _encrypted_names(self.model) and not (value is None or isinstance(value, Sealed)):
                raise EncryptedFieldMisuseError(f"{self.model._meta.label}.{name}: update() cannot encrypt; use save()")
        return super().update(**kwargs)

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        if set(fields) & _encrypted_names(self.model):
            raise EncryptedFieldMisuseError(f"{self.model._meta.label}: bulk_update() cannot encrypt; use save()")
        return super().bulk_update(objs, fields, batch_size=batch_size)

    def order_by(self, *field_names: Any) -> EncryptedQuerySet:
        _refuse_encrypted_names(self.model, field_names)
        return super().order_by(*field_names)

    def distinct(self, *field_names: Any) -> EncryptedQuerySet:
        _refuse_encrypted_names(self.model, field_names)
        return super().distinct(*field_names)


def _encrypted_names(model: type[models.Model]) -> set[str]:
    return {name for field in encrypted_fields(model) for name in (field.name, field.attname)}


def _refuse_encrypted_names(model: type[models.Model], names: tuple[Any, ...]) -> None:
    encrypted = _encrypted_names(model)
    for name in names:
        if isinstance(name, str) and name.lstrip("-").split("__")[0] in encrypted:
            raise EncryptedFieldMisuseError(f"{model._meta.label}: cannot order by encrypted field {name!r}")


EncryptedManager = models.Manager.from_queryset(EncryptedQuerySet)
