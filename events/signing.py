"""Endpoint secrets in the Standard Webhooks format (``whsec_`` and base64 of random bytes), and their rotation
with an overlap during which the previous secret signs too."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta

from django.utils import timezone

from events.models import Endpoint

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def endpoint_secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def endpoint_secret_rotate(endpoint: Endpoint, *, overlap: timedelta) -> str:
    """A new secret; the previous one keeps signing alongside it for ``overlap``."""
    secret = endpoint_secret_new()
    endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, timezone.now() + overlap
    endpoint.secret = secret
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"])
    return secret
