"""Sliding-window counters for detectors, shared by every process: Redis when configured (one script call per
count), core.throttle's table of buckets otherwise (the embedded install).

``window_count`` adds one event and answers how many happened in the last window. The window is cut into
``SLOTS`` slots and the count is the sum of the slots it overlaps, so it covers between ``window`` and
``window + window / SLOTS`` seconds: it never under-counts a burst. ``distinct_count`` adds a member (an account
hash, an app key hash) and answers how many different members were seen in the window. ``marks_take`` forgets
marks and says which were set (one round trip: the login success path uses it).

Keys must hold ids or hashes only, never an email address or a raw key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from core.models import ThrottleBucket
from core.redis import redis_client, redis_configured
from core.throttle import locked_bucket

SLOTS = 6
DISTINCT_MEMBERS_MAX = 10_000  # one attacker's ten thousand names are proof enough; memory stays bounded
PREFIX = "detect"

_COUNT_SCRIPT = """
local size, slots = tonumber(ARGV[1]), tonumber(ARGV[2])
local slot = math.floor(tonumber(ARGV[3]) / size)
local current = KEYS[1] .. ':' .. slot
redis.call('INCR', current)
redis.call('PEXPIRE', current, size * (slots + 1))
local total = 0
for i = 0, slots - 1 do total = total + tonumber(redis.call('GET', KEYS[1] .. ':' .. (slot - i)) or '0') end
return total
"""

_DISTINCT_SCRIPT = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local members = redis.call('ZCARD', KEYS[1])
if members > tonumber(ARGV[4]) then redis.call('ZPOPMIN', KEYS[1], members - tonumber(ARGV[4])) end
redis.call('PEXPIRE', KEYS[1], window)
return math.min(members, tonumber(ARGV[4]))
"""


def window_count(*, key: str, window_seconds: int, now: datetime | None = None) -> int:
    """Count one event under ``key`` and answer the events of the last ``window_seconds``."""
    moment = now or timezone.now()
    slot_ms = _slot_ms(window_seconds)
    if redis_configured():
        arguments: list[int | str] = [slot_ms, SLOTS, _ms(moment)]
        return int(redis_client().eval(_COUNT_SCRIPT, 1, f"{PREFIX}:{key}", *arguments))
    return _database_count(key, slot_ms, moment)


def distinct_count(*, key: str, member: str, window_seconds: int, now: datetime | None = None) -> int:
    """Add ``member`` under ``key`` and answer how many different members were seen in the last window."""
    moment = now or timezone.now()
    if redis_configured():
        arguments: list[int | str] = [_ms(moment), window_seconds * 1000, member, DISTINCT_MEMBERS_MAX]
        return int(redis_client().eval(_DISTINCT_SCRIPT, 1, f"{PREFIX}:{key}", *arguments))
    return _database_distinct(key, member, window_seconds, moment)


def mark_set(*, key: str, seconds: int, now: datetime | None = None) -> None:
    """Remember ``key`` for ``seconds`` (a burst an account or a network just had)."""
    if redis_configured():
        redis_client().set(f"{PREFIX}:mark:{key}", "1", px=seconds * 1000)
        return
    ends = (now or timezone.now()) + timedelta(seconds=seconds)
    ThrottleBucket.objects.update_or_create(key=f"{PREFIX}:mark:{key}", defaults={"window_ends_at": ends})


def marks_take(*, keys: Sequence[str], now: datetime | None = None) -> list[str]:
    """Forget the marks under ``keys`` and answer those that were set (one round trip for all of them)."""
    if redis_configured():
        pipeline = redis_client().pipeline(transaction=False)
        for key in keys:
            pipeline.delete(f"{PREFIX}:mark:{key}")
        return [key for key, deleted in zip(keys, pipeline.execute(), strict=True) if deleted]
    moment = now or timezone.now()
    taken = [key for key in keys if _database_mark_take(key, moment)]
    return taken


def _slot_ms(window_seconds: int) -> int:
    return max(1, math.ceil(window_seconds * 1000 / SLOTS))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _database_count(key: str, slot_ms: int, now: datetime) -> int:
    slot = _ms(now) // slot_ms
    expires = now + timedelta(milliseconds=slot_ms * (SLOTS + 1))
    with locked_bucket(f"{PREFIX}:{key}:{slot}", now=now) as bucket:
        bucket.attempts = F("attempts") + 1
        bucket.window_ends_at = expires
    keys = [f"{PREFIX}:{key}:{slot - back}" for back in range(SLOTS)]
    return sum(ThrottleBucket.objects.filter(key__in=keys).values_list("attempts", flat=True))


def _database_distinct(key: str, member: str, window_seconds: int, now: datetime) -> int:
    prefix = f"{PREFIX}:{key}:member:"
    ends = now + timedelta(seconds=window_seconds)
    ThrottleBucket.objects.update_or_create(key=f"{prefix}{member}", defaults={"window_ends_at": ends})
    live = ThrottleBucket.objects.filter(key__startswith=prefix, window_ends_at__gt=now)
    return min(live.count(), DISTINCT_MEMBERS_MAX)


def _database_mark_take(key: str, now: datetime) -> bool:
    deleted, _ = ThrottleBucket.objects.filter(key=f"{PREFIX}:mark:{key}", window_ends_at__gt=now).delete()
    return bool(deleted)
