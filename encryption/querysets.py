"""Rows and querysets of models with encrypted fields: which fields are encrypted, a queryset that refuses
ordering by ciphertext or writing plaintext through ``update()``, and write keys for a batch of fresh rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import models
from django.db.models import F

from encryption import keyring
from encryption.errors import EncryptedFieldMisuseError
from encryption.fields import EncryptedField, Sealed


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
