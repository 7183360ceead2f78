"""Daily reach: how many distinct recipients a scope may reach in a moving 24 hours (Meta's messaging limit
tiers count business-initiated conversations this way). A recipient already reached in the window costs
nothing again; a new one is admitted while the count is under the limit, else refused with the time until
the oldest one leaves the window.

Redis when configured: one sorted set per scope (recipient -> when first reached), one Lua script on Redis's
own clock, shared by every worker. Without Redis (the embedded install runs one worker), the same in the
process's memory, which forgets on restart (the limit is then Meta's alone until the window fills again).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.redis import redis_client, redis_configured

DAY_MS = 24 * 3600 * 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_TAKE_SCRIPT = """
local now
if ARGV[3] ~= '' then now = tonumber(ARGV[3]) else
  local t = redis.call('TIME'); now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local day = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - day)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1, 0} end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], day)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + day - now}
"""


@dataclass(frozen=True, slots=True)
class Reach:
    is_granted: bool
    wait_seconds: float = 0.0


def reach_take(*, scope: str, recipient: str, limit: int, now: datetime | None = None) -> Reach:
    """Count ``recipient`` in the scope's moving day, or refuse: the scope reached ``limit`` others already.
    ``now`` replaces the clock (tests give logical time)."""
    if limit < 1:
        raise ValueError("a daily reach needs a limit of at least 1")
    now_ms = None if now is None else (now - EPOCH) // timedelta(milliseconds=1)
    if redis_configured():
        clock = "" if now_ms is None else str(now_ms)  # empty: Redis's own clock
        granted, wait_ms = redis_client().eval(_TAKE_SCRIPT, 1, f"reach:{scope}", recipient, limit, clock, DAY_MS)
        return Reach(bool(int(granted)), int(wait_ms) / 1000)
    return _memory_take(scope, recipient, limit, now_ms if now_ms is not None else _wall_ms())


_memory: dict[str, dict[str, int]] = {}
_memory_lock = threading.Lock()


def reach_memory_clear() -> None:
    """Forget the in-memory counts (what a restart does; tests start each case from none)."""
    with _memory_lock:
        _memory.clear()


def _memory_take(scope: str, recipient: str, limit: int, now_ms: int) -> Reach:
    with _memory_lock:
        reached = _memory.setdefault(scope, {})
        for name, at in list(reached.items()):
            if at <= now_ms - DAY_MS:
                del reached[name]
        if recipient in reached:
            return Reach(True)
        if len(reached) < limit:
            reached[recipient] = now_ms
            return Reach(True)
        return Reach(False, (min(reached.values()) + DAY_MS - now_ms) / 1000)


def _wall_ms() -> int:
    return (datetime.now(UTC) - EPOCH) // timedelta(milliseconds=1)
