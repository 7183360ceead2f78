"""Envelope v1 (DESIGN.md §6): ``version(1) | key_id(4) | nonce(12) | ciphertext | tag(16)``, AES-256-GCM.

The associated data binds a value to where it lives, in a canonical length-prefixed form:
``"gw/v1" ‖ lp(tenant) ‖ lp(model) ‖ lp(field) ‖ lp(row id) ‖ lp(header)``, where ``lp(x)`` is a 2-byte
big-endian length followed by ``x``. A ciphertext copied to another row, column, model or tenant fails.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Context:
    """Where a value lives: the row's tenant (None for operator data), model label, field and row id."""

    tenant_id: uuid.UUID | None
    model: str
    field: str
    row_id: uuid.UUID | int | str

    def row_id_bytes(self) -> bytes:
        if isinstance(self.row_id, uuid.UUID):
            return self.row_id.bytes
        return str(self.row_id).encode()


def _length_prefixed(part: bytes) -> bytes:
    if len(part) > MAX_PART_BYTES:
        raise ValueError("an associated-data part is longer than 65535 bytes")
    return struct.pack(">H", len(part)) + part


def associated_data(context: Context, header: bytes) -> bytes:
    tenant = context.tenant_id.bytes if context.tenant_id else b""
    parts = (tenant, context.model.encode(), context.field.encode(), context.row_id_bytes(), header)
    return AAD_LABEL + b"".join(_length_prefixed(part) for part in parts)


def seal(cipher: AESGCM, key_id: int, plaintext: bytes, context: Context) -> bytes:
    header = HEADER.pack(VERSION, key_id, os.urandom(NONCE_BYTES))
    nonce = header[5:]
    return header + cipher.encrypt(nonce, plaintext, associated_data(context, header))


def key_id_of(envelope: bytes) -> int:
    """The key id a stored value names; raises DecryptionError for anything that is not an envelope v1."""
    if len(envelope) < OVERHEAD_BYTES or envelope[0] != VERSION:
        raise DecryptionError("stored value is not an envelope v1 (plaintext or corrupt)")
    _, key_id, _ = HEADER.unpack_from(envelope)
    return int(key_id)


def open_sealed(cipher: AESGCM, envelope: bytes, context: Context) -> bytes:
    key_id_of(envelope)
    header = envelope[:HEADER_BYTES]
    try:
        return cipher.decrypt(header[5:], envelope[HEADER_BYTES:], associated_data(context, header))
    except InvalidTag:
        raise DecryptionError("authentication failed: the value was altered or belongs elsewhere") from None
