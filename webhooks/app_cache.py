"""The Meta apps the webhook edge signs against, kept in process memory for a few seconds.

Looking an app up and opening its secrets costs more than the rest of an ack together, and Meta posts to
the same few apps all day. An entry lives ``GATEWAY_WEBHOOK_APP_CACHE_SECONDS``; a signature that fails
against a cached entry is checked once more against the database, so a rotated secret works at once.
Deactivating an app takes effect within the cache time.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from messaging.models import MetaApp, secrets_in_force
from webhooks.signature import signature_matches


@dataclass(frozen=True, slots=True)
class SigningApp:
    pk: uuid.UUID
    tenant_id: uuid.UUID | None
    app_secret: str
    previous_app_secret: str | None
    previous_valid_until: datetime | None
    expires_at: float

    def secrets(self) -> list[str]:
        return secrets_in_force(self.app_secret, self.previous_app_secret, self.previous_valid_until)


_lock = threading.Lock()
_apps: dict[str, SigningApp] = {}


def signed_app(app_key: str, body: bytes, signature: str | None) -> SigningApp | None:
    """The active app ``app_key`` names, if ``signature`` is its signature of ``body``; else None."""
    cached = _apps.get(app_key)
    fresh = cached is not None and cached.expires_at > time.monotonic()
    if cached is not None and fresh and signature_matches(signature, body, cached.secrets()):
        return cached
    app = _load(app_key)
    if app is None or not signature_matches(signature, body, app.secrets()):
        return None
    return app


def app_known(app_key: str) -> SigningApp | None:
    """The active app ``app_key`` names, signature aside: on the refusal path, to tell a bad signature from an
    unknown app (``signed_app`` has just refreshed the entry when the key names one)."""
    cached = _apps.get(app_key)
    if cached is not None and cached.expires_at > time.monotonic():
        return cached
    return _load(app_key)


def app_cache_clear() -> None:
    with _lock:
        _apps.clear()


def _load(app_key: str) -> SigningApp | None:
    row = MetaApp.objects.filter(app_key=app_key, is_active=True).first()
    if row is None:
        with _lock:
            _apps.pop(app_key, None)
        return None
    app = SigningApp(  # the secrets open here, once per cache time
        pk=row.pk,
        tenant_id=row.tenant_id,
        app_secret=row.app_secret,
        previous_app_secret=row.previous_app_secret,
        previous_valid_until=row.previous_secret_valid_until,
        expires_at=time.monotonic() + settings.GATEWAY_WEBHOOK_APP_CACHE_SECONDS,
    )
    with _lock:
        _apps[app_key] = app
    return app
