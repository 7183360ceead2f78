"""Atomic attempt counters with tiered cool-offs, for login, OTP and other security endpoints.

An attempt is reserved *before* the credential is checked, atomically, so N concurrent attempts
can never get more than the configured number through. Crossing the limit starts a cool-off whose
length grows with each strike (remembered for a while) and is capped: never a permanent lockout.
Redis when configured (one Lua script per step); the database otherwise (one locked row).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.models import ThrottleBucket
from core.redis import redis_client, redis_configured, redis_required


@dataclass(frozen=True)
class ThrottlePolicy:
    attempts: int
    window_seconds: int
    cooloff_seconds: tuple[int, ...]
    strike_memory_seconds: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int = 0
    locked_now: bool = False


_HIT_SCRIPT = """
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then return {0, ttl, 0} end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n <= tonumber(ARGV[1]) then return {1, 0, 0} end
local strikes = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
local tier = math.min(strikes, #ARGV - 3)
local cooloff = tonumber(ARGV[3 + tier])
redis.call('SET', KEYS[2], '1', 'PX', cooloff)
redis.call('DEL', KEYS[1])
return {0, cooloff, 1}
"""

_REFUND_SCRIPT = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return n
"""


def throttle_hit(*, key: str, policy: ThrottlePolicy) -> Verdict:
    """Reserve one attempt under ``key``; refused while cooling off or once over the limit.
    Raises core.redis.RedisUnavailableError when Redis is configured but unreachable (never allows then)."""
    if redis_configured():
        with redis_required():
            return _redis_hit(key, policy)
    return _database_hit(key, policy, timezone.now())


def throttle_reset(*, key: str) -> None:
    """Forget the attempts in the current window (after a success); strikes are kept."""
    if redis_configured():
        with redis_required():
            redis_client().delete(f"throttle:{key}:attempts")
        return
    ThrottleBucket.objects.filter(key=key).update(attempts=0)


def throttle_refund(*, key: str) -> None:
    """Give back one reserved attempt (a success that must not count against a shared key)."""
    if redis_configured():
        with redis_required():
            redis_client().eval(_REFUND_SCRIPT, 1, f"throttle:{key}:attempts")
        return
    ThrottleBucket.objects.filter(key=key, attempts__gt=0).update(attempts=F("attempts") - 1)


def throttle_prune(*, now: datetime) -> int:
    """Delete database buckets that hold nothing any more; Redis keys expire by themselves."""
    stale = ThrottleBucket.objects.filter(window_ends_at__lt=now).exclude(locked_until__gt=now)
    deleted, _ = stale.exclude(strikes_end_at__gt=now).delete()
    return deleted


def _redis_hit(key: str, policy: ThrottlePolicy) -> Verdict:
    keys = [f"throttle:{key}:attempts", f"throttle:{key}:lock", f"throttle:{key}:strikes"]
    arguments = [policy.attempts, policy.window_seconds * 1000, policy.strike_memory_seconds * 1000]
    arguments += [seconds * 1000 for seconds in policy.cooloff_seconds]
    allowed, wait_ms, locked_now = redis_client().eval(_HIT_SCRIPT, len(keys), *keys, *arguments)
    return Verdict(bool(allowed), math.ceil(int(wait_ms) / 1000), bool(locked_now))


def _database_hit(key: str, policy: ThrottlePolicy, now: datetime) -> Verdict:
    with locked_bucket(key, now=now) as bucket:
        return _advance(bucket, policy, now)


@contextmanager
def locked_bucket(key: str, *, now: datetime) -> Iterator[ThrottleBucket]:
    """The database row for ``key`` (created when missing), locked for the block and saved at its end.
    Also the fallback store of core.ratelimit."""
    with transaction.atomic():
        ThrottleBucket.objects.bulk_create([ThrottleBucket(key=key, window_ends_at=now)], ignore_conflicts=True)
        bucket = ThrottleBucket.objects.select_for_update().get(key=key)
        yield bucket
        bucket.save()


def _advance(bucket: ThrottleBucket, policy: ThrottlePolicy, now: datetime) -> Verdict:
    if bucket.locked_until and bucket.locked_until > now:
        return Verdict(False, math.ceil((bucket.locked_until - now).total_seconds()))
    if bucket.window_ends_at <= now:
        bucket.attempts = 0
        bucket.window_ends_at = now + timedelta(seconds=policy.window_seconds)
    bucket.attempts += 1
    if bucket.attempts <= policy.attempts:
        return Verdict(True)
    if not bucket.strikes_end_at or bucket.strikes_end_at <= now:
        bucket.strikes = 0
    bucket.strikes += 1
    bucket.strikes_end_at = now + timedelta(seconds=policy.strike_memory_seconds)
    cooloff = policy.cooloff_seconds[min(bucket.strikes, len(policy.cooloff_seconds)) - 1]
    bucket.locked_until = now + timedelta(seconds=cooloff)
    bucket.attempts = 0
    return Verdict(False, cooloff, locked_now=True)
