"""API keys: ``gw_<env>_<key id>_<secret><checksum>``, shown once, stored as key id + keyed hash.

The checksum (CRC32 of everything before it) lets the server and secret scanners reject a mistyped
or made-up key without a database query. The secret has 22 base62 characters (~131 bits), so a fast
keyed hash is enough: a password hasher would only slow every API request down.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.apikey_guard import api_key_attempt_begin, api_key_attempt_succeeded
from accounts.models import ApiKey, ApiScope, Tenant, User
from accounts.rate_limits import RateLimitsError, rate_limits_clean
from audit.alerts.detectors.api_keys import api_key_failed, api_key_used
from audit.models import AuditAction
from audit.services import audit_record

BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_ID_LENGTH = 10
SECRET_LENGTH = 22
CHECKSUM_LENGTH = 6
ENVIRONMENTS = ("live", "test")
LAST_USED_INTERVAL = timedelta(minutes=1)

# Also the pattern for secret scanners: it matches every key this module can produce, nothing more.
API_KEY_PATTERN = re.compile(
    rf"gw_(?P<environment>live|test)_(?P<key_id>[0-9A-Za-z]{{{KEY_ID_LENGTH}}})_"
    rf"(?P<secret>[0-9A-Za-z]{{{SECRET_LENGTH}}})(?P<checksum>[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})"
)
KEY_REFERENCE_PATTERN = re.compile(rf"(?:gw_(?P<environment>live|test)_)?(?P<key_id>[0-9A-Za-z]{{{KEY_ID_LENGTH}}})")


class ApiKeyError(ValueError):
    """Refused input when issuing a key; the message is safe to show to the operator."""


class ApiKeyRejectedError(Exception):
    """A key that does not authenticate. One message for every reason, so callers cannot probe."""

    def __init__(self) -> None:
        super().__init__("invalid API key")


@dataclass(frozen=True)
class ParsedApiKey:
    environment: str
    key_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class IssuedKey:
    """The only object that ever holds the full key; hand ``plaintext`` to the caller once."""

    api_key: ApiKey
    plaintext: str = field(repr=False)


# --- Codec (no database) ---------------------------------------------------------------------------


def base62_random(*, length: int) -> str:
    return "".join(secrets.choice(BASE62_ALPHABET) for _ in range(length))


def base62_encode(*, number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, remainder = divmod(number, 62)
        digits.append(BASE62_ALPHABET[remainder])
    if number:
        raise ValueError(f"number does not fit in {length} base62 digits")
    return "".join(reversed(digits))


def api_key_checksum(*, body: str) -> str:
    return base62_encode(number=zlib.crc32(body.encode("ascii")), length=CHECKSUM_LENGTH)


def api_key_format(*, environment: str, key_id: str, secret: str) -> str:
    body = f"gw_{environment}_{key_id}_{secret}"
    return body + api_key_checksum(body=body)


def api_key_parse(*, raw_key: str) -> ParsedApiKey:
    """Shape and checksum only; raises ApiKeyRejectedError without touching the database."""
    match = API_KEY_PATTERN.fullmatch(raw_key)
    if match is None:
        raise ApiKeyRejectedError
    body = raw_key[:-CHECKSUM_LENGTH]
    if not hmac.compare_digest(api_key_checksum(body=body), match["checksum"]):
        raise ApiKeyRejectedError
    return ParsedApiKey(environment=match["environment"], key_id=match["key_id"], secret=match["secret"])


def api_key_hash_secret(*, secret: str) -> str:
    pepper = settings.GATEWAY_API_KEY_PEPPER.encode()
    return hmac.new(pepper, secret.encode("ascii"), hashlib.sha256).hexdigest()


# --- Services ------------------------------------------------------------------------------------


def api_key_issue(
    *,
    tenant: Tenant,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    created_by: User | None = None,
    ip: str = "",
    actor_label: str = "",
    rate_limits: Mapping[str, str] | None = None,
) -> IssuedKey:
    """``rate_limits``: the key's own rates by class (accounts.rate_limits), instead of the defaults."""
    clean_name = _clean_name(name)
    clean_scopes = api_key_clean_scopes(scopes=scopes)
    try:
        clean_rate_limits = rate_limits_clean(rate_limits)
    except RateLimitsError as error:
        raise ApiKeyError(str(error)) from None
    now = timezone.now()
    expiry = _clean_expiry(expires_at, now=now)
    if not tenant.is_active:
        raise ApiKeyError(f"tenant {tenant.slug} is inactive")
    environment = settings.API_KEY_ENVIRONMENT
    key_id, secret = base62_random(length=KEY_ID_LENGTH), base62_random(length=SECRET_LENGTH)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            tenant=tenant,
            name=clean_name,
            environment=environment,
            key_id=key_id,
            secret_hash=api_key_hash_secret(secret=secret),
            scopes=clean_scopes,
            created_by=created_by,
            expires_at=expiry,
            rate_limits=clean_rate_limits,
        )
        _audit(
            AuditAction.API_KEY_ISSUED,
            api_key,
            user=created_by,
            actor_label=actor_label,
            ip=ip,
            details=_issue_details(key_id, clean_scopes, expiry, clean_rate_limits),
        )
    plaintext = api_key_format(environment=environment, key_id=key_id, secret=secret)
    return IssuedKey(api_key=api_key, plaintext=plaintext)


def _issue_details(key_id: str, scopes: list[str], expiry: datetime, rate_limits: dict[str, str]) -> dict[str, str]:
    details = {"key_id": key_id, "scopes": " ".join(scopes), "expires_at": expiry.isoformat()}
    if rate_limits:
        details["rate_limits"] = " ".join(f"{name}={rate}" for name, rate in rate_limits.items())
    return details


def api_key_clean_scopes(*, scopes: Iterable[str]) -> list[str]:
    """Known scopes, in the order given, without duplicates; refuses an empty list."""
    if isinstance(scopes, str):
        raise ApiKeyError("the scopes must be a list of scope names, not one string")
    unique = list(dict.fromkeys(str(scope) for scope in scopes))
    if not unique:
        raise ApiKeyError("at least one scope is required")
    unknown = [scope for scope in unique if scope not in ApiScope.values]
    if unknown:
        raise ApiKeyError(f"unknown scope(s): {', '.join(map(str, unknown))}; known: {', '.join(ApiScope.values)}")
    return unique


def _clean_name(name: str) -> str:
    clean = name.strip()
    if not clean:
        raise ApiKeyError("a name is required")
    max_length = ApiKey._meta.get_field("name").max_length or 0
    if len(clean) > max_length:
        raise ApiKeyError(f"the name is longer than {max_length} characters")
    return clean


def _clean_expiry(expires_at: datetime | None, *, now: datetime) -> datetime:
    if expires_at is None:
        return now + timedelta(days=settings.API_KEY_DEFAULT_DAYS)
    if timezone.is_naive(expires_at):
        raise ApiKeyError("The expiry must be timezone-aware")
    if expires_at <= now:
        raise ApiKeyError("The expiry must be in the future")
    if expires_at > now + timedelta(days=settings.API_KEY_MAX_DAYS):
        raise ApiKeyError(f"The expiry must be at most {settings.API_KEY_MAX_DAYS} days away")
    return expires_at


def api_key_revoke(*, api_key: ApiKey, revoked_by: User | None = None, ip: str = "", actor_label: str = "") -> ApiKey:
    """Idempotent: only the call that actually revokes writes the audit event."""
    now = timezone.now()
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now, updated_at=now)
        if revoked:
            _audit(
                AuditAction.API_KEY_REVOKED,
                api_key,
                user=revoked_by,
                actor_label=actor_label,
                ip=ip,
                details={"key_id": api_key.key_id},
            )
    api_key.refresh_from_db(fields=["revoked_at", "updated_at"])
    return api_key


def _audit(
    action: str, api_key: ApiKey, *, user: User | None, actor_label: str, ip: str, details: dict[str, str]
) -> None:
    audit_record(
        action=action,
        tenant_id=api_key.tenant_id,
        actor_id=user.pk if user else None,
        actor_label=actor_label or (user.email if user else ""),
        target_type="api_key",
        target_id=str(api_key.pk),
        ip=_valid_ip(ip) or "",
        details=details,
    )


def api_key_authenticate(*, raw_key: str, ip: str) -> ApiKey:
    """The key's row (with its tenant) if the key is valid and usable now; ApiKeyRejectedError otherwise.
    A refusal that reached the database feeds the key-guessing detectors (with the key's id when the presented
    key id names one); a malformed key, or one of another environment, is refused for free and cannot be a guess
    that succeeds, so it is not counted. A well-formed key first passes the guessing throttle (accounts.apikey_guard),
    which raises ApiKeyThrottledError for a key id or an address cooling off."""
    parsed = _api_key_parsed(raw_key=raw_key)
    api_key_attempt_begin(key_id=parsed.key_id, ip=ip)  # ApiKeyThrottledError over the limits: nothing looked up
    try:
        api_key = _api_key_checked(parsed)
    except _KeyRefusedError as refused:
        known = refused.api_key
        api_key_failed(ip=ip, api_key_id=known.pk if known else None, tenant_id=known.tenant_id if known else None)
        raise ApiKeyRejectedError from None
    api_key_attempt_succeeded(key_id=parsed.key_id, ip=ip)
    api_key_record_use(api_key=api_key, ip=ip, now=timezone.now())
    api_key_used(api_key_id=api_key.pk, tenant_id=api_key.tenant_id, ip=ip)
    return api_key


class _KeyRefusedError(Exception):
    """Why a looked-up key was refused, inside this module only: callers get the one ApiKeyRejectedError."""

    def __init__(self, api_key: ApiKey | None = None) -> None:
        super().__init__("refused")
        self.api_key = api_key


def _api_key_parsed(*, raw_key: str) -> ParsedApiKey:
    """The key's parts if it is well formed and of this environment; ApiKeyRejectedError (free) otherwise."""
    parsed = api_key_parse(raw_key=raw_key)
    if parsed.environment != settings.API_KEY_ENVIRONMENT:
        raise ApiKeyRejectedError
    return parsed


def _api_key_checked(parsed: ParsedApiKey) -> ApiKey:
    presented_hash = api_key_hash_secret(secret=parsed.secret)
    api_key = ApiKey.objects.select_related("tenant").filter(key_id=parsed.key_id).first()
    if api_key is None:
        raise _KeyRefusedError
    if not hmac.compare_digest(api_key.secret_hash, presented_hash):
        raise _KeyRefusedError(api_key)
    now = timezone.now()
    if api_key.environment != parsed.environment or not api_key.is_usable(now) or not api_key.tenant.is_active:
        raise _KeyRefusedError(api_key)
    return api_key


def api_key_record_use(*, api_key: ApiKey, ip: str, now: datetime) -> bool:
    """Write last_used_at/ip at most once per LAST_USED_INTERVAL; concurrent requests write once."""
    stale_before = now - LAST_USED_INTERVAL
    if api_key.last_used_at is not None and api_key.last_used_at > stale_before:
        return False
    address = _valid_ip(ip)
    written = (
        ApiKey.objects.filter(pk=api_key.pk)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale_before))
        .update(last_used_at=now, last_used_ip=address)
    )
    if written:
        api_key.last_used_at, api_key.last_used_ip = now, address
    return bool(written)


def _valid_ip(ip: str) -> str | None:
    # The address may come from X-Forwarded-For; never let a malformed one reach an inet column.
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


# --- Selectors -----------------------------------------------------------------------------------


def api_key_list(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(tenant=tenant).order_by("-created_at", "id")


def api_key_get_for_tenant(*, tenant: Tenant, api_key_id: uuid.UUID) -> ApiKey:
    """Raises ApiKey.DoesNotExist for a missing id and for another tenant's id alike."""
    return ApiKey.objects.get(tenant=tenant, pk=api_key_id)


def api_key_get_by_reference(*, reference: str) -> ApiKey:
    """Operator lookup (any tenant) by row uuid, key id or prefix ``gw_<env>_<key id>``."""
    reference = reference.strip()
    keys = ApiKey.objects.select_related("tenant")
    try:
        return keys.get(pk=uuid.UUID(reference))
    except ValueError:
        pass
    match = KEY_REFERENCE_PATTERN.fullmatch(reference)
    if match is None:
        raise ApiKey.DoesNotExist(reference)
    if match["environment"]:
        keys = keys.filter(environment=match["environment"])
    return keys.get(key_id=match["key_id"])
