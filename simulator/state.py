"""In-memory state of the simulator: channels, rate limiters, windows, faults, media and the send ledger.

Everything here runs on the one event loop thread with no ``await`` inside a method, so a check and
the update that follows it can never interleave with another request.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import itertools
import os
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.failures import FailureBook
from simulator.identity import PHONE, Directory

WHATSAPP = "whatsapp"
MESSENGER = "messenger"
INSTAGRAM = "instagram"
PLATFORMS = frozenset({WHATSAPP, MESSENGER, INSTAGRAM})
DEFAULT_MPS = {WHATSAPP: 80, MESSENGER: 300, INSTAGRAM: 300}
COEXISTENCE_MPS = 20
WINDOW_SECONDS = 24 * 3600.0
MEDIA_URL_SECONDS = 300.0
INBOUND_IDS_KEPT = 1_000_000


@dataclass(slots=True)
class Channel:
    platform: str
    provider_id: str
    access_token: str
    app_secret: str
    webhook_url: str | None
    waba_id: str
    display_phone_number: str
    mps: int
    pair_period_seconds: float
    pair_burst: int
    is_coexistence: bool
    enforces_window: bool
    status_delays_ms: tuple[float, float, float] | None
    identity: str = PHONE

    def public(self) -> dict[str, object]:
        """The channel without its credentials, for the control API."""
        return {
            "platform": self.platform,
            "provider_id": self.provider_id,
            "webhook_url": self.webhook_url,
            "waba_id": self.waba_id,
            "display_phone_number": self.display_phone_number,
            "mps": self.mps,
            "pair_period_seconds": self.pair_period_seconds,
            "pair_burst": self.pair_burst,
            "coexistence": self.is_coexistence,
            "enforce_window": self.enforces_window,
            "status_delays_ms": list(self.status_delays_ms) if self.status_delays_ms is not None else None,
            "identity": self.identity,
        }


class ThroughputWindow:
    """Accepted sends per one-second window for one channel; the same counts are the reported histogram.

    ``fixed`` windows are wall-clock seconds (``int(time.time())``), exactly the histogram's buckets.
    ``sliding`` refuses a send when ``limit`` sends were accepted in the last second, which is stricter:
    it also caps every fixed second.
    """

    __slots__ = ("histogram", "is_sliding", "limit", "recent", "second", "second_count")

    def __init__(self, limit: int, *, is_sliding: bool) -> None:
        self.limit = limit
        self.is_sliding = is_sliding
        self.second = 0
        self.second_count = 0
        self.recent: deque[float] = deque(maxlen=max(limit, 1))
        self.histogram: Counter[int] = Counter()

    def has_room(self, now: float) -> bool:
        if self.is_sliding:
            return len(self.recent) < self.limit or now - self.recent[0] >= 1.0
        return int(now) != self.second or self.second_count < self.limit

    def record(self, now: float) -> None:
        second = int(now)
        if second != self.second:
            self.second = second
            self.second_count = 0
        self.second_count += 1
        self.recent.append(now)
        self.histogram[second] += 1


class PairLimiter:
    """A token bucket per recipient: ``burst`` tokens, one more every ``period`` seconds."""

    __slots__ = ("buckets", "burst", "period")

    def __init__(self, *, period: float, burst: int) -> None:
        self.period = period
        self.burst = burst
        self.buckets: dict[str, tuple[float, float]] = {}

    @property
    def is_enabled(self) -> bool:
        return self.period > 0

    def _tokens(self, recipient: str, now: float) -> float:
        tokens, updated = self.buckets.get(recipient, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - updated) / self.period)

    def has_token(self, recipient: str, now: float) -> bool:
        return not self.is_enabled or self._tokens(recipient, now) >= 1.0

    def take(self, recipient: str, now: float) -> None:
        if self.is_enabled:
            self.buckets[recipient] = (self._tokens(recipient, now) - 1.0, now)


class Fault(enum.Enum):
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    RESET = "reset"
    ACCEPTED_TIMEOUT = "accepted_timeout"
    ACCEPTED_RESET = "accepted_reset"

    @property
    def is_after_accept(self) -> bool:
        return self in (Fault.ACCEPTED_TIMEOUT, Fault.ACCEPTED_RESET)


@dataclass(slots=True)
class FaultPlan:
    """Rates of injected failures, drawn from a seeded generator so a test run is reproducible."""

    rates: dict[Fault, float]
    timeout_seconds: float | None
    server_error_status: int
    seed: int | None
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - reproducible fault injection, not security

    def draw(self) -> Fault | None:
        roll = self.rng.random()
        for fault, rate in self.rates.items():
            if roll < rate:
                return fault
            roll -= rate
        return None

    def public(self) -> dict[str, object]:
        return {
            **{f"{fault.value}_rate": rate for fault, rate in self.rates.items()},
            "timeout_seconds": self.timeout_seconds,
            "server_error_status": self.server_error_status,
            "seed": self.seed,
        }


@dataclass(slots=True)
class Media:
    media_id: str
    owner: str
    content: bytes
    mime_type: str
    sha256: str

    @classmethod
    def create(cls, *, media_id: str, owner: str, content: bytes, mime_type: str) -> Media:
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        return cls(media_id=media_id, owner=owner, content=content, mime_type=mime_type, sha256=digest)


@dataclass(slots=True)
class SendLedger:
    """Every accepted send, counted by the caller's own id, so tests can prove there were no duplicates."""

    accepted_total: int = 0
    untagged: int = 0
    by_id: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    marked_read: int = 0
    sender_actions: int = 0

    def record_accepted(self, callback_data: str | None) -> None:
        self.accepted_total += 1
        if callback_data is None:
            self.untagged += 1
            return
        count = self.by_id.get(callback_data, 0) + 1
        self.by_id[callback_data] = count
        if count > 1:
            self.duplicates[callback_data] = count


class IdSource:
    """Unique, real-looking ids: ``wamid.`` + base64 for WhatsApp, ``m_`` + url-safe base64 for Messenger."""

    def __init__(self) -> None:
        self.run = os.urandom(6).hex()
        self.sequence = itertools.count(1)

    def wamid(self, wa_id: str) -> str:
        raw = f"{wa_id}\x15\x02\x00\x12\x18\x14{self.run}{next(self.sequence):012d}".encode()
        return "wamid." + base64.b64encode(raw).decode()

    def messenger_mid(self) -> str:
        raw = f"{self.run}{next(self.sequence):012d}".encode()
        return "m_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def media_id(self) -> str:
        return str(10**15 + int(self.run[:6], 16) * 10**6 + next(self.sequence))


class SimulatorState:
    def __init__(
        self, *, is_sliding_window: bool = False, public_url: str | None = None, default_identity: str = PHONE
    ) -> None:
        self.is_sliding_window = is_sliding_window
        self.default_identity = default_identity
        self.public_url = public_url
        self.ids = IdSource()
        self.on_reset: list[Callable[[], None]] = []  # what other modules keep, emptied with the rest
        self.reset()

    def reset(self) -> None:
        """Forget every channel, counter, window, fault and media object."""
        self.channels: dict[str, Channel] = {}
        self.channels_by_token: dict[str, Channel] = {}
        self.throughput: dict[str, ThroughputWindow] = {}
        self.pairs: dict[str, PairLimiter] = {}
        self.windows: dict[str, dict[str, float]] = {}
        self.global_faults: FaultPlan | None = None
        self.channel_faults: dict[str, FaultPlan] = {}
        self.media: dict[str, Media] = {}
        self.directory = Directory()
        self.failures = FailureBook()
        self.inbound_ids: dict[str, dict[str, None]] = {}
        self.sink_received = 0
        self.reset_counters()
        for hook in self.on_reset:
            hook()

    def reset_counters(self) -> None:
        self.ledger = SendLedger()
        for channel in self.channels.values():
            self._reset_limiters(channel)

    def channel_add(self, channel: Channel) -> None:
        self.channels[channel.provider_id] = channel
        if channel.platform != WHATSAPP:
            self.channels_by_token[channel.access_token] = channel
        self.windows.setdefault(channel.provider_id, {})
        self._reset_limiters(channel)

    def _reset_limiters(self, channel: Channel) -> None:
        self.throughput[channel.provider_id] = ThroughputWindow(channel.mps, is_sliding=self.is_sliding_window)
        self.pairs[channel.provider_id] = PairLimiter(period=channel.pair_period_seconds, burst=channel.pair_burst)

    def media_add(self, *, owner: str, content: bytes, mime_type: str) -> Media:
        media = Media.create(media_id=self.ids.media_id(), owner=owner, content=content, mime_type=mime_type)
        self.media[media.media_id] = media
        return media

    def inbound_record(self, channel: Channel, message_id: str) -> None:
        """Remember a generated inbound message id, so it can be marked as read (the oldest are forgotten)."""
        ids = self.inbound_ids.setdefault(channel.provider_id, {})
        ids[message_id] = None
        if len(ids) > INBOUND_IDS_KEPT:
            del ids[next(iter(ids))]

    def is_inbound(self, channel: Channel, message_id: str) -> bool:
        return message_id in self.inbound_ids.get(channel.provider_id, {})

    def faults_for(self, channel: Channel) -> FaultPlan | None:
        return self.channel_faults.get(channel.provider_id, self.global_faults)

    def window_open(self, channel: Channel, recipients: list[str], *, seconds: float) -> None:
        expires_at = time.time() + seconds
        windows = self.windows[channel.provider_id]
        for recipient in recipients:
            windows[recipient] = expires_at

    def window_close(self, channel: Channel, recipients: list[str]) -> None:
        windows = self.windows[channel.provider_id]
        for recipient in recipients:
            windows.pop(recipient, None)

    def is_window_open(self, channel: Channel, recipient: str, now: float) -> bool:
        return not channel.enforces_window or self.windows[channel.provider_id].get(recipient, 0.0) > now

    def histogram(self) -> dict[str, dict[str, int]]:
        return {
            provider_id: {str(second): count for second, count in sorted(window.histogram.items())}
            for provider_id, window in self.throughput.items()
        }
