"""Login and OTP throttles: one counter per account and one per client IP, both atomic."""

from __future__ import annotations

import hashlib

from django.conf import settings

from core.throttle import ThrottlePolicy, Verdict, throttle_hit, throttle_refund, throttle_reset

LOGIN = "login"
OTP = "otp"


def _policy(attempts: int) -> ThrottlePolicy:
    return ThrottlePolicy(
        attempts=attempts,
        window_seconds=settings.THROTTLE_WINDOW_SECONDS,
        cooloff_seconds=tuple(settings.THROTTLE_COOLOFF_SECONDS),
        strike_memory_seconds=settings.THROTTLE_STRIKE_MEMORY_SECONDS,
    )


def _account_key(scope: str, account: str) -> str:
    # Hashed so that Redis keys and database rows never hold an email address.
    return f"{scope}:account:{hashlib.sha256(account.encode()).hexdigest()[:32]}"


def _ip_key(scope: str, ip: str) -> str:
    return f"{scope}:ip:{ip}"


def attempt_begin(*, scope: str, account: str, ip: str) -> Verdict:
    """Reserve an attempt for this account and this IP; refused if either is cooling off."""
    account_verdict = throttle_hit(key=_account_key(scope, account), policy=_policy(settings.THROTTLE_ACCOUNT_ATTEMPTS))
    if not account_verdict.allowed:
        return account_verdict
    ip_verdict = throttle_hit(key=_ip_key(scope, ip), policy=_policy(settings.THROTTLE_IP_ATTEMPTS))
    if not ip_verdict.allowed:
        throttle_refund(key=_account_key(scope, account))
    return ip_verdict


def attempt_succeeded(*, scope: str, account: str, ip: str) -> None:
    """A success clears the account's window and gives the IP its attempt back."""
    throttle_reset(key=_account_key(scope, account))
    throttle_refund(key=_ip_key(scope, ip))
