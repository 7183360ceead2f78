"""The API's key authentication: failures per key (a known key id with a wrong secret, or a revoked or expired
key still in use) and per address (key guessing), and a key used from a network it has never used before.

A key's networks (its /24 or /64 prefixes) are kept in ApiKeyNetwork; each process remembers the pairs it has
seen for a while, so a key used from its usual networks costs no query and no round trip.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping

from audit.alerts.counters import window_count
from audit.alerts.detectors.base import crossed, detection_guard, network_of
from audit.alerts.models import ApiKeyNetwork, Severity
from audit.alerts.services import AlertSpec, EvidenceValue, alert_raise
from audit.alerts.thresholds import threshold_for

KEY_DETECTOR = "api_key.failures"
ADDRESS_DETECTOR = "api_key.guessing"
NETWORK_DETECTOR = "api_key.new_network"

KEY_ACTION = (
    "Requests keep failing with this key's id: a client with a revoked, expired or wrong key, or someone guessing "
    "its secret. Find the client using it; if it is not yours, revoke the key and issue a new one."
)
ADDRESS_ACTION = (
    "One address keeps presenting API keys that do not authenticate: likely key guessing. Block the address at "
    "your proxy or firewall, and check that your keys have not been published."
)
NETWORK_ACTION = (
    "This key was used from a network it has never used before. If its client did not move (a new server, a "
    "new office), the key may have leaked: revoke it and issue a new one."
)
SEEN_CACHE_SECONDS = 600.0
SEEN_CACHE_MAX = 10_000

_lock = threading.Lock()
_seen: dict[tuple[uuid.UUID, str], float] = {}


def api_key_failed(*, ip: str, api_key_id: uuid.UUID | None = None, tenant_id: uuid.UUID | None = None) -> None:
    """A key that did not authenticate; ``api_key_id`` and ``tenant_id`` when its key id names an existing key."""
    with detection_guard(KEY_DETECTOR):
        window = threshold_for("api_key_window_seconds", tenant_id=None)
        threshold = threshold_for("api_key_failures_per_address", tenant_id=None)
        failures = window_count(key=f"apikey:address:{ip}", window_seconds=window) if threshold else 0
        if crossed(failures, threshold):
            evidence: dict[str, EvidenceValue] = {
                "address": ip[:64],
                "network": network_of(ip),
                "failures": failures,
                "window_seconds": window,
            }
            _raise(ADDRESS_DETECTOR, f"address:{ip}", None, evidence)
        if api_key_id is not None:
            _key_failure(api_key_id, tenant_id, ip)


def api_key_used(*, api_key_id: uuid.UUID, tenant_id: uuid.UUID, ip: str) -> None:
    """A key that authenticated: an alert the first time it comes from a new network (not its very first)."""
    network = network_of(ip)
    now = time.monotonic()
    if _seen.get((api_key_id, network), 0.0) > now:
        return
    if threshold_for("api_key_new_network", tenant_id=tenant_id) and _network_is_new(api_key_id, tenant_id, network):
        evidence: dict[str, EvidenceValue] = {"api_key_id": str(api_key_id), "network": network}
        _raise(NETWORK_DETECTOR, f"api_key:{api_key_id}:{network}", tenant_id, evidence)
    with _lock:
        if len(_seen) >= SEEN_CACHE_MAX:
            _seen.clear()
        _seen[(api_key_id, network)] = now + SEEN_CACHE_SECONDS


def api_key_networks_forget() -> None:
    """Forget what this process remembers (tests; the table stays)."""
    with _lock:
        _seen.clear()


def _network_is_new(api_key_id: uuid.UUID, tenant_id: uuid.UUID, network: str) -> bool:
    """Record the network; True when it was not known and the key had been used from another one before."""
    row = ApiKeyNetwork(api_key_id=api_key_id, tenant_id=tenant_id, network=network)
    created = ApiKeyNetwork.objects.bulk_create([row], ignore_conflicts=True)
    if not ApiKeyNetwork.objects.filter(api_key_id=api_key_id, network=network, pk=created[0].pk).exists():
        return False  # known already (another row holds the pair)
    return ApiKeyNetwork.objects.filter(api_key_id=api_key_id).exclude(network=network).exists()


def _key_failure(api_key_id: uuid.UUID, tenant_id: uuid.UUID | None, ip: str) -> None:
    window = threshold_for("api_key_window_seconds", tenant_id=tenant_id)
    failures = window_count(key=f"apikey:key:{api_key_id}", window_seconds=window)
    if crossed(failures, threshold_for("api_key_failures_per_key", tenant_id=tenant_id)):
        evidence: dict[str, EvidenceValue] = {
            "api_key_id": str(api_key_id),
            "failures": failures,
            "window_seconds": window,
            "last_network": network_of(ip),
        }
        _raise(KEY_DETECTOR, f"api_key:{api_key_id}", tenant_id, evidence)


def _raise(detector: str, dedupe_key: str, tenant_id: uuid.UUID | None, evidence: Mapping[str, EvidenceValue]) -> None:
    titles = {
        KEY_DETECTOR: "Authentication keeps failing with one API key",
        ADDRESS_DETECTOR: "API keys are being guessed from one address",
        NETWORK_DETECTOR: "An API key was used from a new network",
    }
    severities = {KEY_DETECTOR: Severity.MEDIUM, ADDRESS_DETECTOR: Severity.HIGH, NETWORK_DETECTOR: Severity.MEDIUM}
    actions = {KEY_DETECTOR: KEY_ACTION, ADDRESS_DETECTOR: ADDRESS_ACTION, NETWORK_DETECTOR: NETWORK_ACTION}
    spec = AlertSpec(
        detector=detector,
        dedupe_key=dedupe_key,
        tenant_id=tenant_id,
        severity=severities[detector],
        title=titles[detector],
        evidence=evidence,
        suggested_action=actions[detector],
    )
    alert_raise(spec=spec)
