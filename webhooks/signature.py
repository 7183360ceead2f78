"""Meta's ``X-Hub-Signature-256``: HMAC-SHA256 of the raw body bytes, keyed with the app secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PREFIX = "sha256="
HEX_DIGITS = 64


def signature_for(secret: str, body: bytes) -> str:
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(header: str | None, body: bytes, secrets: Iterable[str]) -> bool:
    """Constant-time check against each secret (current, then previous during a rotation)."""
    if header is None or len(header) != len(PREFIX) + HEX_DIGITS or not header.startswith(PREFIX):
        return False
    given = header.encode()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(signature_for(secret, body).encode(), given)
    return matched
