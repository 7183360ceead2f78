"""The API-key guessing throttle: failed authentications counted per presented key id and per client address.

Each attempt whose key parses reserves one try under its key id and one under its address *before* the key is
looked up (core.throttle: atomic across processes), and a success gives both back, so the counters hold
failures. Over either limit the attempt is refused with 429 and Retry-After, with no query and no hash compare;
a cool-off grows with each strike and is written to the audit log once, when it starts. Someone guessing other
key ids from another address never blocks a key. An IPv6 client counts by its /64, which it usually controls.
"""

from __future__ import annotations

import ipaddress
from typing import NoReturn

from django.conf import settings

from accounts.models import ApiKey
from audit.models import AuditAction
from audit.services import audit_record
from core.throttle import ThrottlePolicy, Verdict, throttle_hit, throttle_refund

KEY_SCOPE = "key_id"
ADDRESS_SCOPE = "address"
IPV6_PREFIX = 64


class ApiKeyThrottledError(Exception):
    """Too many failed attempts for this key id or from this address: refused before any check."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("too many failed API key attempts")
        self.retry_after_seconds = retry_after_seconds


def api_key_attempt_begin(*, key_id: str, ip: str) -> None:
    """Reserve an attempt for ``key_id`` and for the address; ApiKeyThrottledError while either cools off."""
    key_verdict = throttle_hit(key=_key_bucket(key_id), policy=_policy(settings.API_KEY_THROTTLE_KEY_ATTEMPTS))
    if not key_verdict.allowed:
        _refuse(key_verdict, scope=KEY_SCOPE, key_id=key_id, ip=ip)
    address_verdict = throttle_hit(key=_address_bucket(ip), policy=_policy(settings.API_KEY_THROTTLE_ADDRESS_ATTEMPTS))
    if not address_verdict.allowed:
        throttle_refund(key=_key_bucket(key_id))
        _refuse(address_verdict, scope=ADDRESS_SCOPE, key_id=key_id, ip=ip)


def api_key_attempt_succeeded(*, key_id: str, ip: str) -> None:
    """A key that authenticated gives its two reserved attempts back (the counters hold failures only)."""
    throttle_refund(key=_key_bucket(key_id))
    throttle_refund(key=_address_bucket(ip))


def address_of(ip: str) -> str:
    """What the address counter counts: the address itself, or an IPv6 address's /64."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if address.version == 6:  # noqa: PLR2004
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


def _policy(attempts: int) -> ThrottlePolicy:
    return ThrottlePolicy(
        attempts=attempts,
        window_seconds=settings.API_KEY_THROTTLE_WINDOW_SECONDS,
        cooloff_seconds=tuple(settings.API_KEY_THROTTLE_COOLOFF_SECONDS),
        strike_memory_seconds=settings.API_KEY_THROTTLE_STRIKE_MEMORY_SECONDS,
    )


def _key_bucket(key_id: str) -> str:
    return f"apikey:key:{key_id}"


def _address_bucket(ip: str) -> str:
    return f"apikey:address:{address_of(ip)}"


def _refuse(verdict: Verdict, *, scope: str, key_id: str, ip: str) -> NoReturn:
    if verdict.locked_now:
        _audit_cooloff(verdict, scope=scope, key_id=key_id, ip=ip)
    raise ApiKeyThrottledError(verdict.retry_after_seconds)


def _audit_cooloff(verdict: Verdict, *, scope: str, key_id: str, ip: str) -> None:
    """One event per cool-off: in the key's tenant's chain when a key id of a known key cools off, else the
    operator's. The presented secret is never known here; the key id is the key's public part."""
    known, address = None, address_of(ip)
    details: dict[str, str | int] = {"scope": scope, "address": address}
    if scope == KEY_SCOPE:
        known = ApiKey.objects.filter(key_id=key_id).values_list("pk", "tenant_id").first()
        details["key_id"] = key_id
    details["retry_after_seconds"] = verdict.retry_after_seconds
    target_id = str(known[0]) if known else (key_id if scope == KEY_SCOPE else address)
    audit_record(
        action=AuditAction.API_KEY_COOLOFF,
        tenant_id=known[1] if known else None,
        actor_label="anonymous",
        target_type="api_key" if scope == KEY_SCOPE else "address",
        target_id=target_id,
        ip=_valid_ip(ip),
        details=details,
    )


def _valid_ip(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ""
