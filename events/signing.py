"""Standard Webhooks signatures (https://www.standardwebhooks.com): the consumer verifies each delivery with the
endpoint's secret and any of the spec's libraries.

A secret is ``whsec_`` and the base64 of random bytes; the signed content is ``{webhook-id}.{webhook-timestamp}.``
followed by the exact body, HMAC-SHA256, sent as ``v1,<base64>``. While a rotated secret overlaps with the new
one, both signatures are sent, space-separated, so a consumer holding either verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from events.models import Endpoint

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"


def endpoint_secret_new() -> str:
    """A new signing secret, shown to the tenant once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_secrets(endpoint: Endpoint, *, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one during its overlap."""
    previous, until = endpoint.previous_secret, endpoint.previous_secret_until
    return [endpoint.secret, previous] if previous and until and until > now else [endpoint.secret]


def signature_headers(*, webhook_id: str, timestamp: int, body: bytes, secrets_in_use: list[str]) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    signatures = " ".join(f"{SIGNATURE_VERSION},{_signature(secret, signed)}" for secret in secrets_in_use)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}


def endpoint_secret_rotate(endpoint: Endpoint, overlap: timedelta) -> str:
    """Give ``endpoint`` a new secret, its current one signing alongside for ``overlap``; returns the new secret.
    One transaction, the row locked: two rotations at once never lose a secret the consumer still holds."""
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        new_secret = endpoint_secret_new()
        locked.previous_secret, locked.previous_secret_until = locked.secret, timezone.now() + overlap
        locked.secret = new_secret
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"])
    endpoint.refresh_from_db()
    return new_secret


def _signature(secret: str, signed: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
