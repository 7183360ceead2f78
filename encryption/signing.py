"""Ed25519 signatures for the audit log's checkpoints: the one place that holds the signing key.

Registered with ``audit.checkpoints.signer`` in ``EncryptionConfig.ready`` (audit sits below encryption and may
not use cryptography itself). A public key is written ``ed25519:<base64url of its 32 bytes>``; its id is the
first 16 hex digits of the SHA-256 of those bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

PUBLIC_KEY_PREFIX = "ed25519:"
SEED_BYTES = 32


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signing_key_load(value: str) -> Ed25519PrivateKey:
    """The key of a GATEWAY_AUDIT_SIGNING_KEY value; ``ValueError`` names what is wrong (never the value)."""
    try:
        seed = _b64decode(value.strip())
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if len(seed) != SEED_BYTES:
        raise ValueError(f"expected {SEED_BYTES} bytes, got {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: Ed25519PublicKey) -> str:
    return PUBLIC_KEY_PREFIX + _b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key_parse(text: str) -> Ed25519PublicKey:
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise ValueError(f"a public key starts with {PUBLIC_KEY_PREFIX!r}")
    try:
        return Ed25519PublicKey.from_public_bytes(_b64decode(text.removeprefix(PUBLIC_KEY_PREFIX)))
    except (binascii.Error, ValueError):
        raise ValueError("not an Ed25519 public key") from None


def public_key_id(text: str) -> str:
    raw = public_key_parse(text).public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class Ed25519CheckpointSigner:
    """Signs with GATEWAY_AUDIT_SIGNING_KEY as configured when it was made."""

    def __init__(self) -> None:
        self._key = signing_key_load(settings.GATEWAY_AUDIT_SIGNING_KEY)
        self.public_key = public_key_text(self._key.public_key())
        self.key_id = public_key_id(self.public_key)

    def sign(self, payload: bytes) -> str:
        return _b64encode(self._key.sign(payload))


def signature_valid(public_key: str, payload: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64url, unpadded, in its one canonical spelling) is ``public_key``'s over
    ``payload``; a malformed one is not (a decoder that skips stray characters or spare bits would let a changed
    file through)."""
    try:
        raw = _b64decode(signature)
        if _b64encode(raw) != signature:
            return False
        public_key_parse(public_key).verify(raw, payload)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
