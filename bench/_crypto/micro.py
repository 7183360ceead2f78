"""One small value: the envelope and the field path against a bare cached AES-GCM (bench/crypto.py, part 1)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from _crypto import VALUE_BYTES
from _crypto.timing import Case, Verdict, calibrate, measure_interleaved, statement, verdicts_of

ENVELOPE_TARGET = 3.0  # envelope seal/open vs a bare AESGCM call
MICRO_SAMPLE_SECONDS = 0.05  # per sample of each micro case (loops are calibrated to this)


def micro_cases(tenant_id: uuid.UUID) -> tuple[list[Case], Callable[[], None]]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from encryption import keyring
    from encryption.envelope import HEADER_BYTES, Context, associated_data, open_sealed, seal
    from encryption.fields import EncryptedTextField
    from encryption.models import Purpose
    from tests.testapp.models import Note

    body = Note._meta.get_field("body")
    if not isinstance(body, EncryptedTextField):
        raise TypeError("Note.body is expected to be an EncryptedTextField")
    note = Note(tenant_id=tenant_id)  # unsaved; its UUID primary key exists before insert
    text = "x" * VALUE_BYTES
    data = text.encode()
    owner = keyring.owner_of(tenant_id)
    scope = body.scope_for(note)
    key_id, write_cipher = keyring.cipher_for_write(tenant_id=tenant_id, purpose=Purpose.CONTENT, scope=scope)

    def warm() -> None:
        """Keep the keyring entries fresh (the write cache lives 10 s), so no sample pays a key load."""
        keyring.cipher_for_write(tenant_id=tenant_id, purpose=Purpose.CONTENT, scope=scope)
        keyring.cipher_for_read(key_id, owner=owner)

    bare = AESGCM(os.urandom(32))
    nonce = os.urandom(12)
    context = Context(tenant_id=tenant_id, model=Note._meta.label, field=body.name, row_id=note.pk)
    envelope = seal(write_cipher, key_id, data, context)
    namespace: dict[str, Any] = {
        "bare": bare,
        "nonce": nonce,
        "data": data,
        "bare_ct": bare.encrypt(nonce, data, None),
        "aad": associated_data(context, envelope[:HEADER_BYTES]),
        "urandom": os.urandom,
        "seal": seal,
        "open_sealed": open_sealed,
        "write_cipher": write_cipher,
        "read_cipher": keyring.cipher_for_read(key_id, owner=owner),
        "key_id": key_id,
        "context": context,
        "envelope": envelope,
        "field": body,
        "note": note,
        "text": text,
        "sealed": body.seal_value(note, text)[2],  # (value, encoded, sealed, origin)
    }
    if open_sealed(namespace["read_cipher"], envelope, context) != data:
        raise RuntimeError("the envelope does not round-trip")
    if body.open_bytes(note, namespace["sealed"]) != data:
        raise RuntimeError("the field path does not round-trip")

    def case(group: str, label: str, stmt: str, **options: Any) -> Case:
        return Case(group, label, statement(stmt, namespace), **options)

    cases = [
        # A bare encryption that is safe to use draws a fresh random nonce: reusing one breaks AES-GCM.
        case(
            "encrypt",
            "bare AESGCM.encrypt, cached, fresh nonce",
            "bare.encrypt(urandom(12), data, None)",
            baseline=True,
        ),
        case("encrypt", "same with the envelope's AAD", "bare.encrypt(urandom(12), data, aad)"),
        case(
            "encrypt",
            "envelope.seal, keyring cipher",
            "seal(write_cipher, key_id, data, context)",
            target=ENVELOPE_TARGET,
        ),
        case("encrypt", "field.seal_value, unsaved Note", "field.seal_value(note, text)"),
        case("decrypt", "bare AESGCM.decrypt, cached", "bare.decrypt(nonce, bare_ct, None)", baseline=True),
        case(
            "decrypt",
            "envelope.open_sealed, keyring cipher",
            "open_sealed(read_cipher, envelope, context)",
            target=ENVELOPE_TARGET,
        ),
        case("decrypt", "field.open_bytes, unsaved Note", "field.open_bytes(note, sealed)"),
    ]
    return cases, warm


def run_micro(tenant_id: uuid.UUID, repeats: int) -> tuple[list[Case], list[Verdict]]:
    cases, warm = micro_cases(tenant_id)
    for case in cases:
        warm()
        case.loops = calibrate(case.run, MICRO_SAMPLE_SECONDS)
    measure_interleaved(cases, repeats, between=warm)
    return cases, verdicts_of(cases, lambda case: case.best)
