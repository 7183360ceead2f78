"""Root key providers: they wrap and unwrap tenant KEKs and never hand out the root key itself.

The local provider reads root key versions from ``GATEWAY_ROOT_KEYS`` ("1:<base64url>,2:<...>", or
``GATEWAY_ROOT_KEYS_FILE``); the newest version is primary. A cloud KMS or Vault transit provider
implements the same two calls (``wrap`` with a context, ``unwrap``) and is selected by
``GATEWAY_KEY_PROVIDER``.
"""

from __future__ import annotations

import base64
import binascii
import os
from functools import cache
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from encryption.errors import DecryptionError, EncryptionError

ROOT_KEY_BYTES = 32
NONCE_BYTES = 12


class RootKeyProvider(Protocol):
    @property
    def primary_version(self) -> int: ...

    def wrap(self, key: bytes, *, context: bytes) -> tuple[int, bytes]:
        """Wrap ``key`` under the primary root version; returns (root version, blob)."""

    def unwrap(self, blob: bytes, *, version: int, context: bytes) -> bytes: ...


def parse_root_keys(raw: str) -> dict[int, bytes]:
    """``"1:<base64url 32 bytes>,2:<...>"`` → {version: key}. Raises ValueError on anything else."""
    keys: dict[int, bytes] = {}
    for entry in (part.strip() for part in raw.split(",") if part.strip()):
        version_text, _, encoded = entry.partition(":")
        if not version_text.isdigit() or int(version_text) < 1:
            raise ValueError("each root key entry must start with a positive version number and a colon")
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise ValueError(f"root key version {version_text} is not valid base64") from None
        if len(key) != ROOT_KEY_BYTES:
            raise ValueError(f"root key version {version_text} must decode to {ROOT_KEY_BYTES} bytes")
        keys[int(version_text)] = key
    if not keys:
        raise ValueError("no root key given")
    return keys


class LocalKeyProvider:
    """Root keys held by this process (from the environment or a file): for development, tests, small installs."""

    def __init__(self, keys: dict[int, bytes]) -> None:
        self._ciphers = {version: AESGCM(key) for version, key in keys.items()}

    @property
    def primary_version(self) -> int:
        return max(self._ciphers)

    @property
    def versions(self) -> list[int]:
        return sorted(self._ciphers)

    def wrap(self, key: bytes, *, context: bytes) -> tuple[int, bytes]:
        version = self.primary_version
        nonce = os.urandom(NONCE_BYTES)
        return version, nonce + self._ciphers[version].encrypt(nonce, key, context)

    def unwrap(self, blob: bytes, *, version: int, context: bytes) -> bytes:
        cipher = self._ciphers.get(version)
        if cipher is None:
            raise DecryptionError(f"root key version {version} is not configured")
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
        except InvalidTag:
            raise DecryptionError(f"a key wrapped under root version {version} failed authentication") from None


@cache
def root_provider() -> RootKeyProvider:
    name = settings.GATEWAY_KEY_PROVIDER
    if name != "local":
        raise EncryptionError(f"unknown key provider {name!r}; this build has 'local'")
    try:
        return LocalKeyProvider(parse_root_keys(settings.GATEWAY_ROOT_KEYS))
    except ValueError as error:
        raise EncryptionError(f"GATEWAY_ROOT_KEYS is not usable: {error}") from None


PROBE_CONTEXT = b"gateway readiness probe"


def root_provider_is_usable() -> bool:
    """Whether the configured provider loads and wraps then unwraps a throwaway random key under its primary root
    version (what every new key needs); nothing of any key leaves this function, not even in an error."""
    try:
        provider = root_provider()
        probe = os.urandom(ROOT_KEY_BYTES)
        version, blob = provider.wrap(probe, context=PROBE_CONTEXT)
        return provider.unwrap(blob, version=version, context=PROBE_CONTEXT) == probe
    except EncryptionError:
        return False
