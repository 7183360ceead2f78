"""The attribute an encrypted field puts on its model class: a loaded value stays sealed until it is read.

Reading a loaded value is the hot path of every list of encrypted rows, so the descriptor does it in one frame
with what it prepared beforehand: the row's context (``RowContext``, built on the row's first encrypted read),
the column's part of the associated data per key owner, and the field's decoder (a C function for text).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import models

from encryption.errors import ContentExpiredError, DecryptionError
from encryption.keyring import open_envelope
from encryption.values import RowContext, Sealed

if TYPE_CHECKING:
    from encryption.fields import EncryptedField

_NOT_LOADED = object()  # a deferred column: its attribute is not in the instance's __dict__


class EncryptedDescriptor:
    """Opens a loaded value on its first read and keeps its plaintext in the instance's ``__dict__`` (as a plain
    field keeps its value there) with the ``Opened`` record beside it: an assignment replaces the plaintext, and
    ``pre_save`` seals again what changed (``encryption.values``)."""

    __slots__ = ("attname", "decoder", "expired", "field", "prefixes", "record", "snapshot")

    def __init__(self, field: EncryptedField) -> None:
        self.field = field
        self.attname: str = field.attname
        self.expired = field.expired
        self.snapshot = field.snapshot_attribute
        self.record = field.opened_attribute
        self.prefixes: dict[str, bytes] = field.column_prefixes
        self.decoder: Callable[[bytes], Any] | None = field.decoder()

    def __get__(self, instance: models.Model | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        if self.expired is not None and self.expired(instance):
            raise ContentExpiredError(f"{self.field.label} of row {instance.pk} has expired")
        state = instance.__dict__
        current = state.get(self.attname, _NOT_LOADED)
        if current.__class__ is not Sealed:
            if current is not _NOT_LOADED:
                return current  # None, the plaintext opened before, or a value assigned since
            current = state[self.attname] = self.field.load_deferred(instance)
            if current is None:
                return None
        row = state.get(self.snapshot)
        if row.__class__ is not RowContext:
            row = self.field.row_context(instance)
        owner_id = row.owner
        prefix = self.prefixes.get(owner_id) or self.field.column_prefix(row)
        try:
            encoded = open_envelope(current, owner_id, prefix + row.row_tail)
        except DecryptionError as error:
            raise self.field.unopened(row, error) from None
        value = encoded if self.decoder is None else self.decoder(encoded)
        state[self.attname] = value
        state[self.record] = (value, encoded, current, row.origin)
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        state = instance.__dict__
        if value.__class__ is Sealed:
            if self.attname not in state and self.snapshot not in state:
                # Loaded from the database: remember the tenant and row it belongs to (set before it: system
                # check encryption.E004), so a copied or moved row can be resealed on save. The row's first
                # encrypted column takes the snapshot; its other columns share it.
                state[self.snapshot] = self.field.raw_origin(state)
        elif value is not None and self.record in state:
            # A value assigned (refresh_from_db's too), even the very object read: save() seals it again. A
            # Sealed value or None never reuses the record (pre_save and the next read do not consult it).
            del state[self.record]
        state[self.attname] = value
