"""What every detector shares: the outage guard, crossing a threshold, naming accounts and networks by hash."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager

from audit.alerts.counters import window_count
from core.redis import redis_outage

logger = logging.getLogger(__name__)

IPV4_PREFIX = 24
IPV6_PREFIX = 64
HASH_LENGTH = 16
UNKNOWN_NETWORK = "unknown"


@contextmanager
def detection_guard(detector: str) -> Iterator[None]:
    """Skip the detector when Redis is out of reach (logged): a refused login or webhook must still be answered."""
    try:
        yield
    except Exception as error:  # narrowed at once: anything but a Redis outage propagates unchanged
        if not redis_outage(error):
            raise
        logger.warning("detection skipped: redis unreachable", extra={"detector": detector})


def window_count_guarded(*, detector: str, key: str, window_seconds: int) -> int | None:
    """``window_count``, or None when Redis is out of reach: the event goes uncounted (logged), and what reported
    it (an audited action, a status webhook, a send's outcome) carries on."""
    with detection_guard(detector):
        return window_count(key=key, window_seconds=window_seconds)
    return None


def crossed(count: int, threshold: float) -> bool:
    """Whether the event that brought a window's count to ``count`` crossed ``threshold`` (so a burst fires once;
    a threshold of 0 disables the check)."""
    return threshold > 0 and count == max(1, math.ceil(threshold))


def network_of(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) holding ``ip``, the unit one client moves within; "unknown" for no address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return UNKNOWN_NETWORK
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX  # noqa: PLR2004
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def short_hash(value: str) -> str:
    """A stable, short pseudonym for a value that must not be stored (an email address, a made-up app key)."""
    return hashlib.sha256(value.encode()).hexdigest()[:HASH_LENGTH]
