"""The login edge: failure bursts on one account (password or second factor), failures across many accounts from
one network (credential stuffing), and a successful login right after either.

Logins are installation-wide (a user may belong to several tenants, or be an operator), so these alerts are
operator alerts. Accounts are named by the user's id when one exists, else by a hash of the address typed in.
Attempts the throttle refused count as failures: they are the same attack, slowed down.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from audit.alerts.counters import distinct_count, mark_set, marks_take, window_count
from audit.alerts.detectors.base import crossed, detection_guard, network_of, short_hash
from audit.alerts.models import Severity
from audit.alerts.services import AlertSpec, EvidenceValue, alert_raise
from audit.alerts.thresholds import threshold_for

ACCOUNT_DETECTOR = "login.account_failures"
OTP_DETECTOR = "login.otp_failures"
STUFFING_DETECTOR = "login.credential_stuffing"
SUCCESS_DETECTOR = "login.success_after_burst"

ACCOUNT_ACTION = (
    "Someone is guessing this account's password. If its owner is not locked out by mistyping, make sure the "
    "password is strong and unique; the account's second factor still protects it."
)
OTP_ACTION = (
    "Someone who knows this account's password is guessing its second factor. Reset the password now, and ask "
    "the owner whether these attempts were theirs."
)
STUFFING_ACTION = (
    "Many accounts are failing to log in from one network: likely credential stuffing with leaked passwords. "
    "Block the network at your proxy or firewall, and check the accounts that were tried."
)
SUCCESS_ACTION = (
    "A login succeeded right after a burst of failures on the same account or network. Confirm with the account's "
    "owner that it was them; if not, reset the password, remove its sessions and review its recent actions."
)

UserIdLookup = Callable[[], uuid.UUID | None]


def login_failed(*, account: str, ip: str, user_id_of: UserIdLookup) -> None:
    """A password that did not match (or an attempt the throttle refused) for ``account`` (a normalised email)."""
    account_hash, network = short_hash(account), network_of(ip)
    with detection_guard(ACCOUNT_DETECTOR):
        burst = _Burst(ACCOUNT_DETECTOR, "login_failures_per_account", f"account:{account_hash}", network)
        _account_burst(burst, user_id_of)
        window = threshold_for("login_window_seconds", tenant_id=None)
        accounts = distinct_count(key=f"login:network:{network}", member=account_hash, window_seconds=window)
        if crossed(accounts, threshold_for("login_accounts_per_network", tenant_id=None)):
            mark_set(key=f"network:{network}", seconds=_success_window())
            _raise(STUFFING_DETECTOR, f"network:{network}", {"network": network, "accounts": accounts})


def otp_failed(*, user_id: uuid.UUID, ip: str) -> None:
    """A second-factor code that did not match (or an attempt the throttle refused) for a user past the password."""
    with detection_guard(OTP_DETECTOR):
        burst = _Burst(OTP_DETECTOR, "otp_failures_per_account", f"user:{user_id}", network_of(ip))
        _account_burst(burst, lambda: user_id)


def login_succeeded(*, account: str, user_id: uuid.UUID, ip: str) -> None:
    """A password login that succeeded: one round trip to learn whether the account or its network just had a
    burst of failures."""
    network = network_of(ip)
    _success_check(user_id, network, [f"account:{short_hash(account)}", f"network:{network}"])


def otp_succeeded(*, user_id: uuid.UUID, ip: str) -> None:
    """A second factor that matched: one round trip to learn whether the user's codes were just being guessed."""
    _success_check(user_id, network_of(ip), [f"user:{user_id}"])


@dataclass(frozen=True, slots=True)
class _Burst:
    detector: str
    threshold: str
    subject: str  # "account:<hash of the address>" or "user:<id>": the counter, the mark and the dedupe key
    network: str


def _account_burst(burst: _Burst, user_id_of: UserIdLookup | None) -> None:
    window = threshold_for("login_window_seconds", tenant_id=None)
    failures = window_count(key=f"{burst.detector}:{burst.subject}", window_seconds=window)
    if not crossed(failures, threshold_for(burst.threshold, tenant_id=None)):
        return
    mark_set(key=burst.subject, seconds=_success_window())
    user_id = user_id_of() if user_id_of is not None else None
    who = {"user_id": str(user_id)} if user_id is not None else {"account": burst.subject}
    evidence: dict[str, EvidenceValue] = {
        **who,
        "failures": failures,
        "window_seconds": window,
        "last_network": burst.network,
    }
    _raise(burst.detector, burst.subject, evidence)


def _success_check(user_id: uuid.UUID, network: str, marks: list[str]) -> None:
    with detection_guard(SUCCESS_DETECTOR):
        taken = marks_take(keys=marks)
        if not taken:
            return
        after = ",".join(mark.split(":", 1)[0] for mark in taken)
        evidence: dict[str, EvidenceValue] = {"user_id": str(user_id), "network": network, "after_burst_on": after}
        _raise(SUCCESS_DETECTOR, f"user:{user_id}", evidence)


def _success_window() -> int:
    return threshold_for("login_success_after_burst_seconds", tenant_id=None)


def _raise(detector: str, dedupe_key: str, evidence: Mapping[str, EvidenceValue]) -> None:
    titles = {
        ACCOUNT_DETECTOR: "Password failures are piling up on one account",
        OTP_DETECTOR: "Second-factor failures are piling up on one account",
        STUFFING_DETECTOR: "Logins are failing for many accounts from one network",
        SUCCESS_DETECTOR: "A login succeeded right after a burst of failures",
    }
    severities = {
        ACCOUNT_DETECTOR: Severity.MEDIUM,
        OTP_DETECTOR: Severity.HIGH,
        STUFFING_DETECTOR: Severity.HIGH,
        SUCCESS_DETECTOR: Severity.CRITICAL,
    }
    actions = {
        ACCOUNT_DETECTOR: ACCOUNT_ACTION,
        OTP_DETECTOR: OTP_ACTION,
        STUFFING_DETECTOR: STUFFING_ACTION,
        SUCCESS_DETECTOR: SUCCESS_ACTION,
    }
    alert_raise(
        spec=AlertSpec(
            detector=detector,
            dedupe_key=dedupe_key,
            tenant_id=None,
            severity=severities[detector],
            title=titles[detector],
            evidence=evidence,
            suggested_action=actions[detector],
        )
    )
