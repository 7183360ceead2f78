"""What an encrypted field keeps in an instance's ``__dict__``.

Under the field's attname, as a plain field keeps its value: the value as stored (``Sealed``) until it is read,
then its plaintext (or a value assigned since). Beside it, under ``opened_attribute``, the ``Opened`` record of the
plaintext it was opened to (or sealed from), so ``pre_save`` writes the same ciphertext again when nothing changed.
And, shared by the row's encrypted fields, the tenant and row id as loaded, then the row's ``RowContext``.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from encryption import keyring
from encryption.envelope import HEADER_LENGTH_PART, UUID_ROW_PART, key_id_of, row_tail
from encryption.errors import DecryptionError
from encryption.models import OPERATOR


class Sealed(bytes):
    """A value as stored: ciphertext. Its repr names the key, never the bytes."""

    __slots__ = ()

    def __repr__(self) -> str:
        try:
            return f"<Sealed {len(self)} bytes under key {key_id_of(self)}>"
        except DecryptionError:
            return f"<Sealed {len(self)} bytes, not an envelope>"

    __str__ = __repr__


Origin = tuple[uuid.UUID | None, Any]  # (tenant id, row id): where a value was sealed or loaded
ORIGIN_SNAPSHOT = "_encrypted_origin"  # prefix of the instance attribute holding the row's tenant and id as loaded


class RowContext(NamedTuple):
    """Where a row's stored values belong, built once per row on its first encrypted read and shared by its
    encrypted fields: the row's part of the associated data and the keys' owner are not rebuilt per value."""

    origin: Origin
    owner: str  # keyring.owner_of(tenant id): whose read keys may open the row's values
    row_tail: bytes  # the row id as it goes into the associated data, then the header's length prefix


def row_context_of(origin: Origin) -> RowContext:
    """Built on each row's first encrypted read, so the common case (UUIDs) calls no Python function."""
    tenant_id, row_id = origin
    owner = OPERATOR if tenant_id is None else keyring.owner_of_int(tenant_id.int)
    if row_id.__class__ is uuid.UUID:  # envelope.row_tail's case, its 16 bytes as the UUID's ``bytes`` makes them
        tail = UUID_ROW_PART + row_id.int.to_bytes(16) + HEADER_LENGTH_PART
    else:
        tail = row_tail(row_id)
    return new_tuple(RowContext, (origin, owner, tail))


Opened = tuple[Any, bytes, Sealed, Origin]
"""(plaintext, its encoding, ciphertext, where it belongs): a plain tuple, the cheapest record to build per value."""
OPENED_RECORD = "_encrypted_opened"  # prefix of the instance attribute holding a field's Opened record


new_tuple = tuple.__new__  # builds a NamedTuple from a tuple of all its fields without its Python-level __new__
