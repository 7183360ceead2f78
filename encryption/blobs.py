"""Sealing a standalone byte blob (a media file) bound to the row that describes it.

The same envelope v1 and associated data as the encrypted fields: the blob names (tenant, model, slot,
row id), where ``slot`` is a name that is not a column of the model, so a blob can never be swapped in
for a column value, another row's blob, or another tenant's. Keys come from the same keyring by purpose
and scope (a content blob uses the day bucket of its message), so destroying the key shreds the blob too.
"""

from __future__ import annotations

import uuid

from core.metrics import metric_increment
from encryption import keyring
from encryption.envelope import Context, key_id_of, open_sealed, seal
from encryption.errors import DecryptionError


def blob_seal(
    *, tenant_id: uuid.UUID | None, purpose: str, scope: str, model: str, slot: str, row_id: uuid.UUID, data: bytes
) -> bytes:
    """The envelope for ``data``, under the active key of (tenant, purpose, scope)."""
    key_id, cipher = keyring.cipher_for_write(tenant_id=tenant_id, purpose=purpose, scope=scope)
    return seal(cipher, key_id, data, Context(tenant_id=tenant_id, model=model, field=slot, row_id=row_id))


def blob_open(*, tenant_id: uuid.UUID | None, model: str, slot: str, row_id: uuid.UUID, sealed: bytes) -> bytes:
    """The plaintext of a blob sealed for exactly this row; ``DecryptionError`` otherwise (fails closed)."""
    try:
        cipher = keyring.cipher_for_read(key_id_of(sealed), owner=keyring.owner_of(tenant_id))
        return open_sealed(cipher, sealed, Context(tenant_id=tenant_id, model=model, field=slot, row_id=row_id))
    except DecryptionError as error:
        metric_increment("gateway_decrypt_failures", model=model, field=slot)
        raise DecryptionError(f"{model}.{slot} of row {row_id} cannot be opened: {error}") from None
