"""Fixed-window request quotas over several counters at once (the API's per-key and per-tenant rate limits).

``quota_take`` checks every bucket and, only when none is full, counts the request in all of them, in one atomic
step: a request refused by one bucket takes nothing from the others, and N concurrent requests never get more than
a bucket's limit through. Windows are aligned on the epoch (``now // window``), so every process agrees on them.
Redis when configured (one Lua script, shared by every process); the database otherwise (locked rows, the embedded
default's store, core.throttle's ``locked_bucket``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from core.redis import redis_client, redis_configured, redis_required
from core.throttle import locked_bucket

RATE_PATTERN = re.compile(r"(?P<limit>\d{1,9})/(?P<window>\d{1,9})")
# Redis keys outlive their window by this much, so a slow clock never reopens a window early.
EXPIRY_SLACK_MS = 5000


class RateFormatError(ValueError):
    """A rate that is not ``<requests>/<seconds>`` with both at least 1."""


@dataclass(frozen=True)
class Rate:
    limit: int
    window_seconds: int

    def __str__(self) -> str:
        return f"{self.limit}/{self.window_seconds}"


@dataclass(frozen=True)
class QuotaBucket:
    """One counter: ``key`` names it (no personal data), ``policy`` is what clients see it called."""

    key: str
    policy: str
    rate: Rate


@dataclass(frozen=True)
class BucketState:
    bucket: QuotaBucket
    remaining: int
    reset_seconds: int


@dataclass(frozen=True)
class QuotaVerdict:
    """``refused_by`` is the first full bucket (None when allowed); ``states`` say what is left of each."""

    allowed: bool
    states: tuple[BucketState, ...]
    refused_by: QuotaBucket | None = None

    @property
    def retry_after_seconds(self) -> int:
        refusing = [state for state in self.states if state.bucket == self.refused_by]
        return max(1, refusing[0].reset_seconds) if refusing else 0


def rate_parse(value: str) -> Rate:
    """``"600/60"``: 600 requests per 60 seconds."""
    match = RATE_PATTERN.fullmatch(value.strip())
    if match is None or int(match["limit"]) < 1 or int(match["window"]) < 1:
        raise RateFormatError(f"{value!r} is not a rate: write <requests>/<seconds>, e.g. 600/60")
    return Rate(limit=int(match["limit"]), window_seconds=int(match["window"]))


def quota_take(buckets: Sequence[QuotaBucket], *, now: datetime | None = None) -> QuotaVerdict:
    """Count one request in every bucket, or in none when one is full. Raises core.redis.RedisUnavailableError
    when Redis is configured but unreachable (the caller decides whether that refuses the request)."""
    now = now or timezone.now()
    if redis_configured():
        with redis_required():
            return _redis_take(buckets, now)
    return _database_take(buckets, now)


def _window(rate: Rate, now: datetime) -> tuple[int, int]:
    """The window's number and the whole seconds left in it (at least 1)."""
    epoch = now.timestamp()
    index = int(epoch // rate.window_seconds)
    return index, max(1, math.ceil((index + 1) * rate.window_seconds - epoch))


_TAKE_SCRIPT = """
local n = #KEYS
for i = 1, n do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= tonumber(ARGV[i]) then
    local counts = {}
    for j = 1, n do counts[j] = tonumber(redis.call('GET', KEYS[j]) or '0') end
    return {i, unpack(counts)}
  end
end
local counts = {}
for i = 1, n do
  counts[i] = redis.call('INCR', KEYS[i])
  if counts[i] == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[n + i]) end
end
return {0, unpack(counts)}
"""


def _redis_take(buckets: Sequence[QuotaBucket], now: datetime) -> QuotaVerdict:
    windows = [_window(bucket.rate, now) for bucket in buckets]
    keys = [f"quota:{bucket.key}:{index}" for bucket, (index, _) in zip(buckets, windows, strict=True)]
    limits = [bucket.rate.limit for bucket in buckets]
    expiries = [seconds * 1000 + EXPIRY_SLACK_MS for _, seconds in windows]
    refused, *counts = redis_client().eval(_TAKE_SCRIPT, len(keys), *keys, *limits, *expiries)
    return _verdict(buckets, [int(count) for count in counts], [seconds for _, seconds in windows], int(refused))


def _database_take(buckets: Sequence[QuotaBucket], now: datetime) -> QuotaVerdict:
    windows = [_window(bucket.rate, now) for bucket in buckets]
    with transaction.atomic(), ExitStack() as stack:
        # Locked in one order (by key) so that two requests never wait on each other's rows.
        order = sorted(range(len(buckets)), key=lambda i: buckets[i].key)
        rows = {i: stack.enter_context(locked_bucket(f"quota:{buckets[i].key}", now=now)) for i in order}
        for i, bucket in enumerate(buckets):
            window_end = quota_window_end(bucket.rate, now)
            if rows[i].window_ends_at != window_end:  # another window: it starts empty
                rows[i].attempts, rows[i].window_ends_at = 0, window_end
        full = [i for i in range(len(buckets)) if rows[i].attempts >= buckets[i].rate.limit]
        if not full:
            for row in rows.values():
                row.attempts += 1
        counts = [rows[i].attempts for i in range(len(buckets))]
    return _verdict(buckets, counts, [seconds for _, seconds in windows], full[0] + 1 if full else 0)


def _verdict(buckets: Sequence[QuotaBucket], counts: list[int], resets: list[int], refused: int) -> QuotaVerdict:
    """``refused`` is the 1-based position of the refusing bucket, 0 when the request was counted."""
    states = tuple(
        BucketState(bucket, max(0, bucket.rate.limit - count), reset)
        for bucket, count, reset in zip(buckets, counts, resets, strict=True)
    )
    if refused:
        return QuotaVerdict(False, states, buckets[refused - 1])
    return QuotaVerdict(True, states)


def quota_window_end(rate: Rate, now: datetime) -> datetime:
    """When the window holding ``now`` ends (for tests and for what a client is told)."""
    index, _ = _window(rate, now)
    return datetime.fromtimestamp((index + 1) * rate.window_seconds, tz=UTC)
