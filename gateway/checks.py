"""System checks with stable ids. In production (GATEWAY_ENV=production) they refuse unsafe config.

They run with every management command, and ``refuse_unsafe_start`` runs them (with Django's deploy
checks) before gunicorn serves, a Celery worker consumes or beat publishes, because none of them runs
checks by itself (gateway/wsgi.py, gateway/celery.py). docs/security.md lists the ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any
from urllib.parse import urlsplit

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
                id="gateway.E018",
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
