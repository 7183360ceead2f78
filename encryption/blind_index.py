"""Blind indexes: per-tenant keyed HMACs of normalised values, so encrypted columns can be matched exactly.

A stored index is ``key_id(4) ‖ HMAC-SHA256(key, normalised value)[:16]``; each (tenant, model, field)
has its own key, so the same phone number cannot be linked across tenants or columns. Lookups compute
the index under every readable key of the tenant (more than one only during a rotation).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from core.phones import normalize_e164
from encryption import keyring
from encryption.errors import EncryptedFieldMisuseError

DIGEST_BYTES = 16
INDEX_BYTES = 4 + DIGEST_BYTES
Normalizer = Callable[[str], str]


def normalize_opaque(value: str) -> str:
    """Provider ids (wamid, PSID, IG id) are compared exactly as given."""
    return value


NORMALIZERS: dict[str, Normalizer] = {"e164": normalize_e164, "opaque": normalize_opaque}


def index_scope(model: type[models.Model], source: str) -> str:
    return f"{model._meta.label_lower}.{source}"


def compute_index(key_id: int, normalised: str) -> bytes:
    digest = keyring.hmac_for_key(key_id).copy()
    digest.update(normalised.encode())
    return struct.pack(">I", key_id) + digest.digest()[:DIGEST_BYTES]


class BlindIndexField(models.BinaryField):  # type: ignore[type-arg]
    """Filled in ``pre_save`` from the plaintext of ``source``; only ``exact``/``in``/``isnull`` lookups."""

    description = "Blind index"

    def __init__(
        self,
        *args: Any,
        source: str = "",
        normalizer: str = "opaque",
        tenant_attribute: str | None = "tenant_id",
        **kwargs: Any,
    ) -> None:
        self.source = source
        self.normalizer = normalizer
        self.tenant_attribute = tenant_attribute
        kwargs.setdefault("editable", False)
        kwargs.setdefault("max_length", INDEX_BYTES)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.update(source=self.source, normalizer=self.normalizer, tenant_attribute=self.tenant_attribute)
        return name, path, args, kwargs

    def tenant_id(self, instance: models.Model) -> uuid.UUID | None:
        value = getattr(instance, self.tenant_attribute) if self.tenant_attribute else None
        return None if value is None else uuid.UUID(str(value))

    def pre_save(self, model_instance: models.Model, add: bool) -> bytes | None:
        plaintext = getattr(model_instance, self.source)
        if plaintext is None:
            setattr(model_instance, self.attname, None)
            return None
        scope = index_scope(type(model_instance), self.source)
        [key_id] = keyring.blind_index_keys(tenant_id=self.tenant_id(model_instance), scope=scope, for_write=True)
        index = compute_index(key_id, NORMALIZERS[self.normalizer](str(plaintext)))
        setattr(model_instance, self.attname, index)
        return index

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        return None if value is None else super().get_db_prep_value(bytes(value), connection, prepared)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> bytes | None:
        return None if value is None else bytes(value)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name in {"exact", "in", "isnull"}:
            return super().get_lookup(lookup_name)
        raise EncryptedFieldMisuseError(f"blind indexes support only exact, in and isnull, not {lookup_name}")


def blind_index_candidates(
    model: type[models.Model], field_name: str, *, tenant_id: uuid.UUID | None, value: str
) -> list[bytes]:
    """The index values ``value`` has under each readable key (raises ValueError when it does not normalise)."""
    field = model._meta.get_field(field_name)
    if not isinstance(field, BlindIndexField):
        raise TypeError(f"{model._meta.label}.{field_name} is not a blind index")
    normalised = NORMALIZERS[field.normalizer](value)
    scope = index_scope(model, field.source)
    key_ids = keyring.blind_index_keys(tenant_id=tenant_id, scope=scope, for_write=False)
    return [compute_index(key_id, normalised) for key_id in key_ids]


def blind_index_filter(
    model: type[models.Model], field_name: str, *, tenant_id: uuid.UUID | None, value: str
) -> models.Q:
    """A Q matching rows of ``tenant_id`` whose ``field_name`` indexes ``value``: use with the tenant filter too."""
    candidates = blind_index_candidates(model, field_name, tenant_id=tenant_id, value=value)
    return models.Q(**{f"{field_name}__in": candidates}) if candidates else models.Q(pk__in=[])
