"""Envelope v1 (DESIGN.md §6): ``version(1) | key_id(4) | nonce(12) | ciphertext | tag(16)``, AES-256-GCM.

The associated data binds a value to where it lives, in a canonical length-prefixed form:
``"gw/v1" ‖ lp(tenant) ‖ lp(model) ‖ lp(field) ‖ lp(type tag ‖ row id) ‖ lp(header)``, where ``lp(x)`` is a 2-byte
big-endian length followed by ``x``. A ciphertext copied to another row, column, model or tenant fails.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from encryption.errors import DecryptionError

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER = struct.Struct(">BI12s")  # version, key_id, nonce
HEADER_BYTES = HEADER.size
OVERHEAD_BYTES = HEADER_BYTES + TAG_BYTES
AAD_LABEL = b"gw/v1"
MAX_PART_BYTES = 0xFFFF
NONCE_SLICE = slice(5, HEADER_BYTES)  # the parts of an envelope, as prebuilt slices for the per-value read path
HEADER_SLICE = slice(0, HEADER_BYTES)
CIPHERTEXT_SLICE = slice(HEADER_BYTES, None)
NOT_AN_ENVELOPE = "stored value is not an envelope v1 (plaintext or corrupt)"
NOT_AUTHENTIC = "authentication failed: the value was altered or belongs elsewhere"


@dataclass(frozen=True)
class Context:
    """Where a value lives: the row's tenant (None for operator data), model label, field and row id."""

    tenant_id: uuid.UUID | None
    model: str
    field: str
    row_id: uuid.UUID | int | str
    _stem: bytes = dataclass_field(init=False, repr=False, compare=False, default=b"")

    def __post_init__(self) -> None:
        object.__setattr__(self, "_stem", aad_stem(self.tenant_id, self.model, self.field, self.row_id))

    def stem(self) -> bytes:
        return self._stem


_LENGTH = struct.Struct(">H").pack
HEADER_LENGTH_PART = _LENGTH(HEADER_BYTES)  # the header always has the same length
_VERSION_AND_KEY = struct.Struct(">BI").pack
KEY_ID_OF = struct.Struct(">xI").unpack_from  # (key id,) read in place from a checked envelope: no slice copy


def _length_prefixed(part: bytes) -> bytes:
    if len(part) > MAX_PART_BYTES:
        raise ValueError("an associated-data part is longer than 65535 bytes")
    return _LENGTH(len(part)) + part


_prefixes: dict[tuple[int | None, str, str], bytes] = {}


def column_prefix(tenant_id: uuid.UUID | None, model: str, field: str) -> bytes:
    """``label ‖ lp(tenant) ‖ lp(model) ‖ lp(field)``, cached (keyed by the UUID's int, which hashes in C)."""
    slot = (tenant_id.int if tenant_id else None, model, field)
    prefix = _prefixes.get(slot)
    if prefix is None:
        tenant = tenant_id.bytes if tenant_id else b""
        parts = (tenant, model.encode(), field.encode())
        prefix = _prefixes[slot] = AAD_LABEL + b"".join(_length_prefixed(part) for part in parts)
    return prefix


UUID_ROW_PART = _LENGTH(17) + b"u"  # a UUID row id's length prefix and type tag: 16 bytes follow


def row_part(row_id: uuid.UUID | int | str) -> bytes:
    """The row id with a type tag (u: UUID bytes, i: integer, s: text), so no two kinds of id collide."""
    if isinstance(row_id, uuid.UUID):
        return UUID_ROW_PART + row_id.bytes
    tag = b"i" if isinstance(row_id, int) else b"s"
    return _length_prefixed(tag + str(row_id).encode())


def row_tail(row_id: uuid.UUID | int | str) -> bytes:
    """``row_part(row_id)`` and the header's length prefix: what follows the column prefix in every value's
    associated data in that row, but the header itself (see ``open_bound``)."""
    return row_part(row_id) + HEADER_LENGTH_PART


def aad_stem(tenant_id: uuid.UUID | None, model: str, field: str, row_id: uuid.UUID | int | str) -> bytes:
    """Everything in the associated data but the header; the parts that repeat per column are cached."""
    return column_prefix(tenant_id, model, field) + row_part(row_id)


def associated_data(context: Context, header: bytes) -> bytes:
    return context.stem() + _length_prefixed(header)


def seal_with_stem(cipher: AESGCM, key_id: int, plaintext: bytes, stem: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    header = _VERSION_AND_KEY(VERSION, key_id) + nonce
    return header + cipher.encrypt(nonce, plaintext, stem + HEADER_LENGTH_PART + header)


def seal(cipher: AESGCM, key_id: int, plaintext: bytes, context: Context) -> bytes:
    return seal_with_stem(cipher, key_id, plaintext, context.stem())


def key_id_of(envelope: bytes) -> int:
    """The key id a stored value names; raises DecryptionError for anything that is not an envelope v1."""
    if len(envelope) < OVERHEAD_BYTES or envelope[0] != VERSION:
        raise DecryptionError(NOT_AN_ENVELOPE)
    key_id: int = KEY_ID_OF(envelope)[0]
    return key_id


def open_bound(cipher: AESGCM, envelope: bytes, bound: bytes) -> bytes:
    """Open ``envelope`` whose associated data, but the header itself, is ``bound``: the stem, then
    ``HEADER_LENGTH_PART`` (``keyring.open_envelope`` inlines this for the per-value read path)."""
    if len(envelope) < OVERHEAD_BYTES or envelope[0] != VERSION:
        raise DecryptionError(NOT_AN_ENVELOPE)
    try:
        return cipher.decrypt(envelope[NONCE_SLICE], envelope[CIPHERTEXT_SLICE], bound + envelope[HEADER_SLICE])
    except InvalidTag:
        raise DecryptionError(NOT_AUTHENTIC) from None


def open_with_stem(cipher: AESGCM, envelope: bytes, stem: bytes) -> bytes:
    return open_bound(cipher, envelope, stem + HEADER_LENGTH_PART)


def open_sealed(cipher: AESGCM, envelope: bytes, context: Context) -> bytes:
    return open_with_stem(cipher, envelope, context.stem())
