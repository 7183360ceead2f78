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
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.utils.functional import cached_property

from core.metrics import metric_increment
from encryption import keyring
from encryption.envelope import Context, aad_stem, column_prefix, key_id_of, open_with_stem, row_part, seal_with_stem
from encryption.errors import DecryptionError, EncryptedFieldMisuseError

logger = logging.getLogger(__name__)

ScopeFunction = Callable[[Any], str]
ExpiredFunction = Callable[[Any], bool]


class ContentExpiredError(DecryptionError):
    """The value's retention has run out (read-time enforcement): it is refused, whether or not a key still
    opens it. A subclass of ``DecryptionError``, so code that tolerates an unreadable value tolerates this."""


class Sealed(bytes):
    """A value as stored: ciphertext. Its repr names the key, never the bytes."""

    def __repr__(self) -> str:
        try:
            return f"<Sealed {len(self)} bytes under key {key_id_of(self)}>"
        except DecryptionError:
            return f"<Sealed {len(self)} bytes, not an envelope>"

    __str__ = __repr__


Origin = tuple[uuid.UUID | None, Any]  # (tenant id, row id): where a value was sealed or loaded
ORIGIN_SNAPSHOT = "_encrypted_origin"  # instance attribute: the row's tenant and id as loaded


class LoadedOrigin(NamedTuple):
    origin: Origin
    row_part: bytes  # the row id as it goes into the associated data


class Opened(NamedTuple):
    """A value opened (or sealed) for an instance: plaintext, its encoding, ciphertext, and where it belongs."""

    value: Any
    encoded: bytes
    sealed: Sealed
    origin: Origin


class EncryptedDescriptor:
    def __init__(self, field: EncryptedField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        if self.field.expired is not None and self.field.expired(instance):
            raise ContentExpiredError(f"{self.field.label} of row {instance.pk} has expired")
        attname = self.field.attname
        if attname not in instance.__dict__:
            instance.__dict__[attname] = self.field.load_deferred(instance)
        current = instance.__dict__[attname]
        if isinstance(current, Sealed):
            current = self.field.opened(instance, current, self.field.loaded(instance))
            instance.__dict__[attname] = current
        return current.value if isinstance(current, Opened) else current

    def __set__(self, instance: models.Model, value: Any) -> None:
        loaded = instance.__dict__
        if isinstance(value, Sealed) and self.field.attname not in loaded:
            # Loaded from the database: remember the tenant and row it belongs to (set before it: system
            # check encryption.E004), so a copied or moved row can be resealed on save.
            snapshot = loaded.setdefault(ORIGIN_SNAPSHOT, {})
            slot = self.field.origin_slot
            if slot not in snapshot:
                snapshot[slot] = self.field.raw_origin(loaded)
        loaded[self.field.attname] = value


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
        setattr(cls, self.attname, EncryptedDescriptor(self))

    # --- codec: bytes as they are; the text and JSON fields override these two ---

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"{self.label} holds bytes, got {type(value).__name__}")
        return bytes(value)

    def decode(self, encoded: bytes) -> Any:
        return encoded

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

    @cached_property
    def origin_slot(self) -> tuple[str | None, str]:
        return self.tenant_attribute, self.row_field.attname

    def loaded(self, instance: models.Model) -> LoadedOrigin:
        """Where the instance's stored values belong: its tenant and row id as loaded (cached per instance)."""
        snapshot = instance.__dict__.get(ORIGIN_SNAPSHOT)
        entry = snapshot.get(self.origin_slot) if snapshot else None
        if isinstance(entry, LoadedOrigin):
            return entry
        origin = self.origin(instance) if entry is None else (_as_uuid(entry[0]), self.row_field.to_python(entry[1]))
        result = LoadedOrigin(origin, row_part(origin[1]))
        if entry is not None and snapshot is not None:
            snapshot[self.origin_slot] = result
        return result

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
        return Opened(value, encoded, Sealed(seal_with_stem(cipher, key_id, encoded, stem)), origin)

    def opened(self, instance: models.Model, sealed: Sealed, loaded: LoadedOrigin) -> Opened:
        encoded = self.open_bytes(instance, sealed, loaded)
        return Opened(self.decode(encoded), encoded, sealed, loaded.origin)

    def open_bytes(self, instance: models.Model, sealed: bytes, loaded: LoadedOrigin | None = None) -> bytes:
        if loaded is None:
            origin = self.origin(instance)
            loaded = LoadedOrigin(origin, row_part(origin[1]))
        (tenant_id, row_id), row = loaded
        try:
            cipher = keyring.cipher_for_read(key_id_of(sealed), owner=keyring.owner_of(tenant_id))
            return open_with_stem(cipher, sealed, column_prefix(tenant_id, self.model_label, self.name) + row)
        except DecryptionError as error:
            metric_increment("gateway_decrypt_failures", model=self.model_label, field=self.name)
            logger.warning(
                "encrypted value did not open",
                extra={
                    "model": self.model_label,
                    "field": self.name,
                    "row_id": str(row_id),
                    "reason": type(error).__name__,
                },
            )
            raise DecryptionError(f"{self.label} of row {row_id} cannot be opened: {error}") from None

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
        current = model_instance.__dict__.get(self.attname)
        if current is None:
            return None
        origin = self.origin(model_instance)
        if isinstance(current, Sealed):
            loaded = self.loaded(model_instance)
            if loaded.origin == origin:
                return current
            current = self.opened(model_instance, current, loaded)  # the row was copied or moved: reseal
        if isinstance(current, Opened):
            if current.origin == origin and self.encode(current.value) == current.encoded:
                return current.sealed
            current = current.value  # changed in place (a dict, a list) or moved: seal it again
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


def fresh_scope_keys_create(instances: Sequence[models.Model], field_name: str) -> None:
    """Create, in one go, the write keys that ``field_name`` of these unsaved rows will need, when each row has
    a scope of its own that is new (a subject key scoped by a fresh row id): a batch of new contacts then
    costs one key insert instead of a round of queries each."""
    field = instances[0]._meta.get_field(field_name) if instances else None
    if not isinstance(field, EncryptedField):
        return
    by_tenant: dict[uuid.UUID | None, list[str]] = {}
    for instance in instances:
        by_tenant.setdefault(field.tenant_of(instance), []).append(field.scope_for(instance))
    for tenant_id, scopes in by_tenant.items():
        keyring.data_keys_create_many(tenant_id=tenant_id, purpose=field.purpose, scopes=scopes)


def _encrypted_names(model: type[models.Model]) -> set[str]:
    return {name for field in encrypted_fields(model) for name in (field.name, field.attname)}


def _referenced_names(argument: Any) -> list[str]:
    if isinstance(argument, str):
        return [argument.lstrip("-").split("__")[0]]
    if isinstance(argument, F):
        return [str(getattr(argument, "name", "")).split("__")[0]]
    if hasattr(argument, "flatten"):
        return [str(getattr(node, "name", "")).split("__")[0] for node in argument.flatten() if isinstance(node, F)]
    return []


def _refuse_encrypted_names(model: type[models.Model], arguments: tuple[Any, ...]) -> None:
    encrypted = _encrypted_names(model)
    for argument in arguments:
        if any(name in encrypted for name in _referenced_names(argument)):
            raise EncryptedFieldMisuseError(f"{model._meta.label}: cannot order by encrypted field {argument!r}")


EncryptedManager = models.Manager.from_queryset(EncryptedQuerySet)
