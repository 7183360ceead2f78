"""System checks with stable ids. In production (GATEWAY_ENV=production) they refuse unsafe config.

They run with every management command, and ``refuse_unsafe_start`` runs them (with Django's deploy
checks) before gunicorn serves, a Celery worker consumes or beat publishes, because none of them runs
checks by itself (gateway/wsgi.py, gateway/celery.py). docs/security.md lists the ids.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from encryption.providers import parse_root_keys
from encryption.signing import public_key_id, signing_key_load

ONE_YEAR_SECONDS = 31_536_000
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_DISTINCT = 5
KEY_MIN_LENGTH = 32
REDIS_BROKER_SCHEMES = frozenset({"redis", "rediss"})
DISTINCT_SECRETS = ("SECRET_KEY", "GATEWAY_AUDIT_KEY", "GATEWAY_API_KEY_PEPPER")
VERIFYING_SSLMODES = frozenset({"verify-full", "verify-ca"})
VERIFYING_CERT_REQS = frozenset({"required", "cert_required"})
SERVICES_TLS_HINT = (
    "Or, only when the network path to it is private (a host-local socket, a private link), say so with "
    "GATEWAY_SERVICES_TLS=off (docs/security.md)."
)
HTTPS_AT_PROXY_HINT = (
    "Only a TLS-terminating proxy that does it itself may take this over: GATEWAY_TRUSTED_PROXY_COUNT>=1 "
    "and GATEWAY_PROXY_ENFORCES_HTTPS=1."
)


def _secret_key() -> list[CheckMessage]:
    key = settings.SECRET_KEY
    if (
        len(key) >= SECRET_KEY_MIN_LENGTH
        and len(set(key)) >= SECRET_KEY_MIN_DISTINCT
        and not key.startswith("django-insecure-")
    ):
        return []
    return [
        Error(
            "DJANGO_SECRET_KEY is missing or weak.",
            hint="Set at least 50 random characters (DJANGO_SECRET_KEY or DJANGO_SECRET_KEY_FILE).",
            id="gateway.E001",
        )
    ]


def _allowed_hosts() -> list[CheckMessage]:
    hosts = settings.ALLOWED_HOSTS
    if hosts and "*" not in hosts:
        return []
    return [Error("DJANGO_ALLOWED_HOSTS must list the gateway's host names (no '*').", id="gateway.E002")]


def _root_key() -> list[CheckMessage]:
    try:
        parse_root_keys(settings.GATEWAY_ROOT_KEYS)
    except ValueError as error:
        return [
            Error(
                f"GATEWAY_ROOT_KEYS is not usable: {error}.",
                hint="Generate one with `python manage.py generate_secrets`.",
                id="gateway.E003",
            )
        ]
    return []


def _secure_cookies() -> list[CheckMessage]:
    if settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE:
        return []
    return [
        Error("Session and CSRF cookies must be Secure.", hint="Unset GATEWAY_SECURE_COOKIES=0.", id="gateway.E004")
    ]


def _hsts() -> list[CheckMessage]:
    if settings.SECURE_HSTS_SECONDS >= ONE_YEAR_SECONDS and settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        return []
    return [
        Error(
            "HSTS must last at least a year and include subdomains.",
            hint="GATEWAY_HSTS_SECONDS>=31536000 and GATEWAY_HSTS_INCLUDE_SUBDOMAINS=1.",
            id="gateway.E005",
        )
    ]


def _proxy() -> list[CheckMessage]:
    count = settings.TRUSTED_PROXY_COUNT
    if count is None:
        return [
            Error(
                "GATEWAY_TRUSTED_PROXY_COUNT is not set.",
                hint="Set it to the number of reverse "
                "proxies that append to X-Forwarded-For (0 when clients connect directly).",
                id="gateway.E006",
            )
        ]
    if count > 0 and getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is None:
        return [Error("Behind a proxy, SECURE_PROXY_SSL_HEADER must be set.", id="gateway.E011")]
    return []


def _debug() -> list[CheckMessage]:
    return [Error("DJANGO_DEBUG must be off in production.", id="gateway.E008")] if settings.DEBUG else []


def _browsable_api() -> list[CheckMessage]:
    renderers = list(settings.REST_FRAMEWORK.get("DEFAULT_RENDERER_CLASSES") or [])
    if any("BrowsableAPIRenderer" in renderer for renderer in renderers):
        return [Error("The browsable API must be off in production.", id="gateway.E009")]
    return []


def _chain_and_pepper_keys() -> list[CheckMessage]:
    missing = [
        name
        for name in ("GATEWAY_AUDIT_KEY", "GATEWAY_API_KEY_PEPPER")
        if len(getattr(settings, name)) < KEY_MIN_LENGTH
    ]
    if not missing:
        return []
    return [Error(f"{', '.join(missing)} missing or shorter than 32 characters.", id="gateway.E010")]


def _audit_signing_key() -> list[CheckMessage]:
    try:
        signing_key_load(settings.GATEWAY_AUDIT_SIGNING_KEY)
        for public_key in settings.GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEYS:
            public_key_id(public_key)
    except ValueError as error:
        return [
            Error(
                f"GATEWAY_AUDIT_SIGNING_KEY or GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEYS is missing or not usable: {error}.",
                hint="Generate a signing key with `python manage.py generate_secrets`; earlier public keys as "
                "`audit checkpoint-key` printed them.",
                id="gateway.E021",
            )
        ]
    return []


def _https_enforced_by_proxy() -> bool:
    """The operator declared a TLS-terminating proxy that redirects plain HTTP and sends HSTS itself."""
    return settings.PROXY_ENFORCES_HTTPS and getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is not None


def _ssl_redirect() -> list[CheckMessage]:
    if settings.SECURE_SSL_REDIRECT or _https_enforced_by_proxy():
        return []
    return [
        Error(
            "Plain HTTP requests must be redirected to HTTPS (GATEWAY_SSL_REDIRECT is off).",
            hint=HTTPS_AT_PROXY_HINT,
            id="gateway.E012",
        )
    ]


def _hsts_preload() -> list[CheckMessage]:
    if settings.SECURE_HSTS_PRELOAD or _https_enforced_by_proxy():
        return []
    return [
        Error("HSTS must allow preloading (GATEWAY_HSTS_PRELOAD is off).", hint=HTTPS_AT_PROXY_HINT, id="gateway.E013")
    ]


def _embedded_database() -> list[CheckMessage]:
    aliases = [alias for alias, config in settings.DATABASES.items() if config["ENGINE"].endswith("sqlite3")]
    if not aliases:
        return []
    return [
        Error(
            f"The database ({', '.join(aliases)}) is SQLite, the embedded default.",
            hint="Set DATABASE_URL to PostgreSQL.",
            id="gateway.E014",
        )
    ]


def _embedded_broker() -> list[CheckMessage]:
    """Production's broker is Redis: never the embedded default (core.broker, a folder on one machine), kombu's
    filesystem or memory transports, or no broker at all."""
    url = settings.CELERY_BROKER_URL
    broker = urlsplit(url).scheme if url else str(getattr(settings, "CELERY_BROKER_TRANSPORT", "") or "none")
    if broker in REDIS_BROKER_SCHEMES:
        return []
    return [
        Error(
            f"The task broker is {broker}, not Redis (the embedded default is for one machine and development).",
            hint="Set REDIS_URL.",
            id="gateway.E015",
        )
    ]


def _csrf_trusted_origins() -> list[CheckMessage]:
    plain = [origin for origin in settings.CSRF_TRUSTED_ORIGINS if not origin.lower().startswith("https://")]
    if not plain:
        return []
    return [Error(f"DJANGO_CSRF_TRUSTED_ORIGINS must be https:// only: {', '.join(plain)}.", id="gateway.E016")]


def _distinct_secrets() -> list[CheckMessage]:
    """One leaked value must not open more than one door (sessions and signing, the audit chain, API key hashes)."""
    shared = [
        f"{first} and {second}"
        for first, second in combinations(DISTINCT_SECRETS, 2)
        if getattr(settings, first) and getattr(settings, first) == getattr(settings, second)
    ]
    if not shared:
        return []
    return [
        Error(
            f"The same secret is used twice: {'; '.join(shared)}.",
            hint="Give each its own value (`python manage.py generate_secrets`).",
            id="gateway.E017",
        )
    ]


def _services_tls_off() -> bool:
    return bool(settings.SERVICES_TLS == settings.SERVICES_TLS_OFF)


def _database_tls() -> list[CheckMessage]:
    """PostgreSQL over TLS with the server's certificate and host name verified (sslmode=verify-full)."""
    if _services_tls_off():
        return []
    postgresql = {alias: config for alias, config in settings.DATABASES.items() if "postgresql" in config["ENGINE"]}
    modes = {alias: str((config.get("OPTIONS") or {}).get("sslmode", "")) for alias, config in postgresql.items()}
    unverified = [alias for alias, mode in modes.items() if mode not in VERIFYING_SSLMODES]
    if unverified:
        return [
            Error(
                f"The database ({', '.join(unverified)}) is reached without a verified TLS certificate.",
                hint="Add ?sslmode=verify-full (and sslrootcert=<CA file> unless the system's CAs sign it) to "
                "DATABASE_URL. " + SERVICES_TLS_HINT,
                id="gateway.E018",
            )
        ]
    host_unchecked = [alias for alias, mode in modes.items() if mode == "verify-ca"]
    if host_unchecked:
        return [
            checks.Warning(
                f"The database ({', '.join(host_unchecked)}) uses sslmode=verify-ca: its host name is not checked.",
                hint="Use sslmode=verify-full unless the server's certificate cannot name its host.",
                id="gateway.W002",
            )
        ]
    return []


def _redis_urls() -> list[str]:
    urls = [settings.REDIS_URL, settings.CELERY_BROKER_URL]
    return list(dict.fromkeys(url for url in urls if url and urlsplit(url).scheme in REDIS_BROKER_SCHEMES))


def _redis_verified(url: str) -> bool:
    parts = urlsplit(url)
    requirement = (parse_qs(parts.query).get("ssl_cert_reqs") or ["required"])[-1].lower()
    return parts.scheme == "rediss" and requirement in VERIFYING_CERT_REQS


def _broker_verifies() -> bool:
    """Celery's broker (kombu) skips verifying a rediss:// certificate unless told: settings_authguard tells it."""
    url = settings.CELERY_BROKER_URL
    if not url or urlsplit(url).scheme != "rediss":
        return True
    options = getattr(settings, "CELERY_BROKER_USE_SSL", None) or {}
    return bool(options.get("ssl_cert_reqs") == ssl.CERT_REQUIRED)


def _redis_tls() -> list[CheckMessage]:
    """Redis (throttles, locks, the cache and the task broker) over rediss:// with its certificate verified."""
    if _services_tls_off():
        return []
    if all(_redis_verified(url) for url in _redis_urls()) and _broker_verifies():
        return []
    return [
        Error(
            "Redis is reached without a verified TLS certificate.",
            hint="Use a rediss:// REDIS_URL (with ssl_ca_certs=<CA file> unless the system's CAs sign it), and no "
            "ssl_cert_reqs other than required. " + SERVICES_TLS_HINT,
            id="gateway.E019",
        )
    ]


def _webauthn_relying_party() -> list[CheckMessage]:
    """Passkeys are bound to the configured RP ID and origins, never to a request's Host or Origin (A8)."""
    rp_id = settings.OTP_WEBAUTHN_RP_ID
    origins = settings.OTP_WEBAUTHN_ALLOWED_ORIGINS
    wrong = [origin for origin in origins if not _origin_serves(origin, rp_id)]
    if rp_id and origins and not wrong:
        return []
    return [
        Error(
            "GATEWAY_WEBAUTHN_RP_ID and GATEWAY_WEBAUTHN_ORIGINS must name the admin's domain and its https origins"
            + (f"; not within the RP ID: {', '.join(wrong)}." if wrong else "."),
            hint="E.g. GATEWAY_WEBAUTHN_RP_ID=gateway.example.com, GATEWAY_WEBAUTHN_ORIGINS=https://gateway.example.com.",
            id="gateway.E020",
        )
    ]


def _services_tls_declared_off() -> list[CheckMessage]:
    if not _services_tls_off():
        return []
    return [
        checks.Warning(
            "GATEWAY_SERVICES_TLS=off: PostgreSQL and Redis may be reached without TLS.",
            hint="Only for a private network path; remove it once both are reached over verified TLS.",
            id="gateway.W001",
        )
    ]


def _origin_serves(origin: str, rp_id: str) -> bool:
    """An https origin (no path) whose host is the RP ID or one of its subdomains."""
    parts = urlsplit(origin)
    host = (parts.hostname or "").lower()
    return (
        parts.scheme == "https"
        and parts.path in ("", "/")
        and bool(rp_id)
        and (host == rp_id.lower() or host.endswith(f".{rp_id.lower()}"))
    )


PRODUCTION_CHECKS: Sequence[Callable[[], list[CheckMessage]]] = (
    _secret_key,
    _allowed_hosts,
    _root_key,
    _secure_cookies,
    _hsts,
    _proxy,
    _debug,
    _browsable_api,
    _chain_and_pepper_keys,
    _ssl_redirect,
    _hsts_preload,
    _embedded_database,
    _embedded_broker,
    _csrf_trusted_origins,
    _distinct_secrets,
    _database_tls,
    _redis_tls,
    _services_tls_declared_off,
    _webauthn_relying_party,
    _audit_signing_key,
)


@checks.register(checks.Tags.security)
def production_settings(app_configs: Sequence[AppConfig] | None, **_: Any) -> list[CheckMessage]:
    if not settings.IS_PRODUCTION:
        return []
    return [message for check in PRODUCTION_CHECKS for message in check()]


@checks.register(checks.Tags.security)
def api_default_permission(app_configs: Sequence[AppConfig] | None, **_: Any) -> list[CheckMessage]:
    classes = settings.REST_FRAMEWORK.get("DEFAULT_PERMISSION_CLASSES") or []
    if classes and not any(name.endswith("AllowAny") for name in classes):
        return []
    return [Error("REST_FRAMEWORK's default permission must not allow anyone.", id="gateway.E007")]


def refuse_unsafe_start() -> None:
    """Run every check, Django's deploy checks included in production; raise on any error."""
    from django.core.checks import run_checks

    messages = run_checks(include_deployment_checks=settings.IS_PRODUCTION)
    errors = [message for message in messages if message.is_serious()]
    if errors:
        raise ImproperlyConfigured("refusing to start: " + "; ".join(f"{m.id}: {m.msg}" for m in errors))
