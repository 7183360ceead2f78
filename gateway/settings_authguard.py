"""API keys: their lifetimes and the guessing throttle (accounts/apikey_guard.py); sessions findable per user
(accounts/sessions.py); TLS to PostgreSQL and Redis (docs/security.md, gateway.E018, E019, W001, W002).

gateway/settings.py imports every name of ``__all__``.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

from gateway.env import env_int, env_list, env_str

__all__ = [
    "API_KEY_DEFAULT_DAYS",
    "API_KEY_MAX_DAYS",
    "API_KEY_THROTTLE_ADDRESS_ATTEMPTS",
    "API_KEY_THROTTLE_COOLOFF_SECONDS",
    "API_KEY_THROTTLE_KEY_ATTEMPTS",
    "API_KEY_THROTTLE_STRIKE_MEMORY_SECONDS",
    "API_KEY_THROTTLE_WINDOW_SECONDS",
    "CELERY_BROKER_USE_SSL",
    "SERVICES_TLS",
    "SERVICES_TLS_OFF",
    "SERVICES_TLS_REQUIRED",
    "SESSION_ENGINE",
]

API_KEY_DEFAULT_DAYS = env_int("GATEWAY_API_KEY_DEFAULT_DAYS", 90, minimum=1)
API_KEY_MAX_DAYS = env_int("GATEWAY_API_KEY_MAX_DAYS", 365, minimum=1)

# Failed API key authentications allowed per window, per presented key id and per client address (an IPv6
# client's /64), before further attempts are refused with 429 until a cool-off ends; cool-offs grow per strike.
API_KEY_THROTTLE_KEY_ATTEMPTS = env_int("GATEWAY_API_KEY_THROTTLE_KEY_ATTEMPTS", 10, minimum=1)
API_KEY_THROTTLE_ADDRESS_ATTEMPTS = env_int("GATEWAY_API_KEY_THROTTLE_ADDRESS_ATTEMPTS", 50, minimum=1)
API_KEY_THROTTLE_WINDOW_SECONDS = env_int("GATEWAY_API_KEY_THROTTLE_WINDOW_SECONDS", 15 * 60, minimum=1)
API_KEY_THROTTLE_COOLOFF_SECONDS = [
    int(value) for value in env_list("GATEWAY_API_KEY_THROTTLE_COOLOFF_SECONDS", "60,300,900,3600")
]
API_KEY_THROTTLE_STRIKE_MEMORY_SECONDS = env_int(
    "GATEWAY_API_KEY_THROTTLE_STRIKE_MEMORY_SECONDS", 24 * 3600, minimum=60
)

# Sessions in the database with their user's id, so that disabling a user deletes every session of theirs.
SESSION_ENGINE = "accounts.sessions"

# Production reaches PostgreSQL with sslmode=verify-full and Redis over rediss:// with a verified certificate
# (gateway.E018, E019). "off" says the network path to both is private: a warning (gateway.W001) instead.
SERVICES_TLS_REQUIRED = "required"
SERVICES_TLS_OFF = "off"
SERVICES_TLS = env_str("GATEWAY_SERVICES_TLS", SERVICES_TLS_REQUIRED).lower()
if SERVICES_TLS not in (SERVICES_TLS_REQUIRED, SERVICES_TLS_OFF):
    raise ImproperlyConfigured("GATEWAY_SERVICES_TLS must be 'required' or 'off'")

_CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "cert_required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "cert_optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
    "cert_none": ssl.CERT_NONE,
}
_FILE_OPTIONS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def redis_tls_options(url: str) -> dict[str, Any] | None:
    """The TLS options of a ``rediss://`` URL for Celery's broker (kombu would otherwise skip verifying the
    certificate): what the URL's query says, the certificate required unless it says otherwise. None for
    ``redis://`` and no URL. redis-py (core.redis, the cache) reads the same query and verifies by default."""
    if urlsplit(url).scheme != "rediss":
        return None
    query = {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}
    requirement = query.get("ssl_cert_reqs", "required").lower()
    if requirement not in _CERT_REQS:
        raise ImproperlyConfigured("REDIS_URL's ssl_cert_reqs must be required, optional or none")
    options: dict[str, Any] = {"ssl_cert_reqs": _CERT_REQS[requirement]}
    options.update({name: query[name] for name in _FILE_OPTIONS if query.get(name)})
    return options


CELERY_BROKER_USE_SSL = redis_tls_options(env_str("REDIS_URL"))
