"""Send budgets shared by every worker process: a channel's messages per second and a recipient's pair rate,
taken together or not at all (a send refused by one bucket takes nothing from the other).

Channel: a counter per wall-clock second, not a token bucket. A bucket holding ``rate`` tokens that also
refills during the same second lets up to ``2 * rate`` through one wall-clock second, and Meta (like the
simulator) counts fixed seconds. A counter per second is exact on the clock it runs on; the clock that
matters is Meta's, when the request arrives. A grant in the last ``guard_ms`` of a second may land in the
next one, so it counts against both seconds: as long as the time from grant to arrival stays below the guard,
no second at Meta ever sees more than ``rate`` sends. The price would be throughput in the guard zone, so the
channel's schedule (sends due back after a refusal, and the relay's publishes: ``send_schedule_reserve``) puts
a second's ``rate`` sends before its guard zone.

Recipient: GCRA, a token bucket stored as one timestamp (the "theoretical arrival time"): one send per
``period``, up to ``burst`` in a row, then one per period again.

Holds: Meta's own 130429 / 131056 answers stop a channel, or a recipient, for a while (the hold stores its end on
the budget's clock).

Batches: ``send_budgets_take`` takes the budgets of many sends of one channel in one script call (the
dispatcher sends a batch at a time): each send is granted or refused on its own, in order, exactly as if
taken one by one. A grant must reach Meta within ``guard_ms``: the dispatcher does not start a call whose grant
is older than half of it (the other half is for the request's way there; it puts the message back instead), so
a stalled worker cannot carry a grant into a second that did not count it.

Redis when configured: one Lua script, Redis's own clock (``TIME``), so every worker process on every host
shares one clock and one budget (tests pass ``now`` instead: logical time, no waiting for real seconds).
Without Redis (the embedded install: one worker), rows of core.throttle's table, locked in one transaction. The
script builds its per-second keys itself, so it suits a single Redis (or one Redis Cluster slot via a hash tag in
the keys), which is what the gateway runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from core.models import ThrottleBucket
from core.redis import redis_client, redis_configured
from core.send_schedule import SCHEDULE_HORIZON_MS, SCHEDULE_PLACE_LUA
from core.throttle import locked_bucket

CHANNEL = "channel"
RECIPIENT = "recipient"
REFUSED_BY = {1: CHANNEL, 2: RECIPIENT}
COUNTER_TTL_MS = 3000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _clock(argument: int | str) -> str:
    """Lua setting ``now`` (ms) from Redis's own clock, or from ``ARGV[argument]`` when the caller passes a time
    (tests: logical time; production passes none)."""
    return f"""
local now = ARGV[{argument}] and tonumber(ARGV[{argument}])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end
"""


_TAKE_SCRIPT = (
    _clock(6)
    + """local rate, guard = tonumber(ARGV[1]), tonumber(ARGV[2])
local period, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
local ends = tonumber(redis.call('GET', KEYS[2]) or '0')
local held = ends > 1 and ends - now or redis.call('PTTL', KEYS[2])  -- the hold's end; an older hold: '1'
if held > 0 then return {1, held, 0} end
local second = math.floor(now / 1000)
local left = (second + 1) * 1000 - now
local current = KEYS[1] .. ':' .. second
if tonumber(redis.call('GET', current) or '0') >= rate then
  local refused = redis.call('INCR', current .. ':refused')
  redis.call('PEXPIRE', current .. ':refused', tonumber(ARGV[5]))
  return {1, left, refused}
end
if period > 0 then
  local tat = math.max(tonumber(redis.call('GET', KEYS[3]) or '0'), now)
  local early = tat - now - (burst - 1) * period
  if early > 0 then return {2, early, 0} end
  redis.call('SET', KEYS[3], string.format('%d', tat + period), 'PX', tat + period - now)
end
redis.call('INCR', current)
redis.call('PEXPIRE', current, tonumber(ARGV[5]))
if left <= guard then
  local following = KEYS[1] .. ':' .. (second + 1)
  redis.call('INCR', following)
  redis.call('PEXPIRE', following, tonumber(ARGV[5]) + 1000)
end
return {0, 0, 0}
"""
)

# The same rules for N sends of one channel: KEYS = channel counter, channel hold, then one recipient key per
# send; ARGV = rate, guard, period, burst, ttl, then one flag per send (1: the pair rate applies).
# Returns two numbers per send (0 granted, 1 channel or 2 recipient refused; the wait in ms), then the count of
# channel refusals. Sends the channel refused get a return time from the channel's schedule (``schedule_place``),
# so a backlog comes back at the channel's rate instead of all at the next second (or randomly spread, wasting
# seconds).
_TAKE_MANY_SCRIPT = (
    _clock("#KEYS + 4")
    + SCHEDULE_PLACE_LUA
    + """local rate, guard = tonumber(ARGV[1]), tonumber(ARGV[2])
local period, burst, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local count = #KEYS - 2
local out = {}
local ends = tonumber(redis.call('GET', KEYS[2]) or '0')
local held = ends > 1 and ends - now or redis.call('PTTL', KEYS[2])  -- the hold's end; an older hold: '1'
if held > 0 then
  for i = 1, count do out[#out + 1] = 1; out[#out + 1] = held end
  out[#out + 1] = 0
  return out
end
local second = math.floor(now / 1000)
local left = (second + 1) * 1000 - now
local current = KEYS[1] .. ':' .. second
local used = tonumber(redis.call('GET', current) or '0')
local granted, refused = 0, 0
for i = 1, count do
  if used + granted >= rate then
    out[#out + 1] = 1; out[#out + 1] = left
    refused = refused + 1
  else
    local early = 0
    if period > 0 and ARGV[5 + i] == '1' then
      local tat = math.max(tonumber(redis.call('GET', KEYS[i + 2]) or '0'), now)
      early = tat - now - (burst - 1) * period
      if early <= 0 then
        redis.call('SET', KEYS[i + 2], string.format('%d', tat + period), 'PX', tat + period - now)
      end
    end
    if early > 0 then
      out[#out + 1] = 2; out[#out + 1] = early
    else
      out[#out + 1] = 0; out[#out + 1] = 0
      granted = granted + 1
    end
  end
end
if granted > 0 then
  redis.call('INCRBY', current, granted)
  redis.call('PEXPIRE', current, ttl)
  if left <= guard then
    local following = KEYS[1] .. ':' .. (second + 1)
    redis.call('INCRBY', following, granted)
    redis.call('PEXPIRE', following, ttl + 1000)
  end
end
if refused > 0 then
  local earliest, horizon = (second + 1) * 1000, now + SCHEDULE_HORIZON_MS
  local pieces = schedule_place(KEYS[1] .. ':return', refused, refused, earliest, horizon, rate, guard, ttl)
  local piece, left_in_piece = 1, pieces[1] and pieces[1][2] or 0
  for i = 1, count do
    if out[2 * i - 1] == 1 then
      if left_in_piece == 0 and pieces[piece + 1] then piece, left_in_piece = piece + 1, pieces[piece + 1][2] end
      if left_in_piece > 0 then
        out[2 * i] = pieces[piece][1] - now
        left_in_piece = left_in_piece - 1
      else
        out[2 * i] = SCHEDULE_HORIZON_MS + 1  -- no place within the horizon: left to the relay, which places it
      end
    end
  end
end
out[#out + 1] = refused
return out
""".replace("SCHEDULE_HORIZON_MS", str(SCHEDULE_HORIZON_MS))
)

_HOLD_SCRIPT = (
    _clock(4)
    + """local hold, period, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if period == 0 then
  if tonumber(redis.call('GET', KEYS[1]) or '0') < now + hold then
    redis.call('SET', KEYS[1], string.format('%d', now + hold), 'PX', hold)
  end
  return hold
end
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now + hold + (burst - 1) * period)
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', tat - now)
return hold
"""
)


# Places for sends about to be published (the relay): KEYS = the channel's counter key; ARGV = rate, guard, ttl,
# the time ('' for Redis's clock), the count, the most in one piece. Returns each piece's wait in ms and size, up
# to the horizon.
_RESERVE_SCRIPT = (
    _clock(4)
    + SCHEDULE_PLACE_LUA
    + """local rate, guard, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local count, most = tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {}
local pieces = schedule_place(KEYS[1] .. ':return', count, most, now, now + SCHEDULE_HORIZON_MS, rate, guard, ttl)
for _, piece in ipairs(pieces) do
  out[#out + 1] = piece[1] - now
  out[#out + 1] = piece[2]
end
return out
""".replace("SCHEDULE_HORIZON_MS", str(SCHEDULE_HORIZON_MS))
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendBudget:
    """What one send takes: one from the channel's second, and one from the recipient's bucket (when given)."""

    channel_key: str
    channel_rate: int
    recipient_key: str | None = None
    pair_period_seconds: float = 0.0
    pair_burst: int = 1
    guard_ms: int = 250

    @property
    def period_ms(self) -> int:
        return round(self.pair_period_seconds * 1000) if self.recipient_key else 0


@dataclass(frozen=True, slots=True)
class Grant:
    """``backlog_seconds`` (one send at a time): when the channel's second is full, how many more seconds of
    sends were refused in this second already (refusals / rate). Callers spread their retries over it instead
    of all coming back at the next second. ``is_scheduled`` (many sends at once): the wait is the group's place
    in the channel's return schedule, to be kept as it is. (Redis only; the database fallback reports neither.)"""

    is_granted: bool
    wait_seconds: float = 0.0
    refused_by: str = ""  # CHANNEL or RECIPIENT when refused
    backlog_seconds: float = 0.0
    is_scheduled: bool = False  # the wait is a return time from the channel's schedule: come back then, no spread


def send_budget_take(budget: SendBudget, *, now: datetime | None = None) -> Grant:
    """Take one send from both buckets, or from neither: then how long to wait and which bucket refused.
    ``now`` replaces the budget's clock (Redis's or the database host's): tests give logical time."""
    if budget.channel_rate < 1 or budget.pair_burst < 1:
        raise ValueError("a send budget needs a rate and a burst of at least 1")
    if redis_configured():
        return _redis_take(budget, now)
    return _database_take(budget, now or timezone.now())


def send_budgets_take(budgets: Sequence[SendBudget], *, now: datetime | None = None) -> list[Grant]:
    """``send_budget_take`` for many sends of one channel in one round trip: a grant or a refusal per budget,
    in order (the channel's second fills up in that order; a recipient named twice is charged twice)."""
    if not budgets:
        return []
    first = budgets[0]
    if first.channel_rate < 1 or first.pair_burst < 1:
        raise ValueError("a send budget needs a rate and a burst of at least 1")
    shared = (first.channel_key, first.channel_rate, first.guard_ms, first.pair_period_seconds, first.pair_burst)
    for budget in budgets[1:]:
        if (
            budget.channel_key,
            budget.channel_rate,
            budget.guard_ms,
            budget.pair_period_seconds,
            budget.pair_burst,
        ) != shared:
            raise ValueError("the budgets of one call must be of one channel, with the same limits")
    if not redis_configured():
        return [_database_take(budget, now or timezone.now()) for budget in budgets]
    period_ms = round(first.pair_period_seconds * 1000)
    keys = [_redis_key(first.channel_key), _redis_key(first.channel_key, "hold")]
    keys += [_redis_key(budget.recipient_key or "none") for budget in budgets]
    flags = ["1" if budget.recipient_key else "0" for budget in budgets]
    arguments: list[int | str] = [first.channel_rate, first.guard_ms, period_ms, first.pair_burst, COUNTER_TTL_MS]
    arguments += [*flags, *_clock_argument(now)]
    answer = redis_client().eval(_TAKE_MANY_SCRIPT, len(keys), *keys, *arguments)
    grants = []
    for index in range(len(budgets)):
        refused, wait_ms = int(answer[2 * index]), int(answer[2 * index + 1])
        scheduled = REFUSED_BY.get(refused) == CHANNEL and answer[-1] > 0
        grants.append(Grant(True) if not refused else Grant(False, wait_ms / 1000, REFUSED_BY[refused], 0, scheduled))
    return grants


def send_schedule_reserve(
    budget: SendBudget, count: int, *, most: int, now: datetime | None = None
) -> list[tuple[float, int]]:
    """Places in the channel's schedule for ``count`` sends about to be published, in order: pieces of at most
    ``most`` sends, each with the seconds to wait before it is due (0: now), so a backlog reaches the workers a
    second's rate at a time instead of all at once (each send the channel then refuses costs a worker a lease and
    a requeue). Places go no further than SCHEDULE_HORIZON_MS ahead: the sends past it get none (the pieces then
    hold fewer than ``count``), to be placed later. Without Redis there is no shared schedule: every piece is due
    now. ``now`` as in ``send_budget_take``."""
    if budget.channel_rate < 1 or most < 1:
        raise ValueError("a schedule needs a rate and pieces of at least 1")
    if count < 1:
        return []
    if not redis_configured():
        return [(0.0, min(most, count - start)) for start in range(0, count, most)]
    clock: list[int | str] = [*_clock_argument(now)] or [""]
    arguments = [budget.channel_rate, budget.guard_ms, COUNTER_TTL_MS, *clock, count, most]
    answer = redis_client().eval(_RESERVE_SCRIPT, 1, _redis_key(budget.channel_key), *arguments)
    return [(max(int(answer[i]), 0) / 1000, int(answer[i + 1])) for i in range(0, len(answer), 2)]


def send_budget_hold(budget: SendBudget, *, scope: str, seconds: float, now: datetime | None = None) -> None:
    """Refuse the channel (or the recipient) for ``seconds``: Meta said it is over its limit. ``now`` as in
    ``send_budget_take``."""
    if scope not in (CHANNEL, RECIPIENT) or (scope == RECIPIENT and not budget.recipient_key):
        raise ValueError(f"nothing to hold for scope {scope!r}")
    hold_ms = max(1, math.ceil(seconds * 1000))
    if redis_configured():
        if scope == CHANNEL:
            key, period, burst = _redis_key(budget.channel_key, "hold"), 0, 1
        else:
            key, period, burst = _redis_key(str(budget.recipient_key)), budget.period_ms, budget.pair_burst
        redis_client().eval(_HOLD_SCRIPT, 1, key, hold_ms, period, burst, *_clock_argument(now))
        return
    now = now or timezone.now()
    with locked_bucket(budget.channel_key if scope == CHANNEL else str(budget.recipient_key), now=now) as row:
        until = now + timedelta(milliseconds=hold_ms)
        if scope == RECIPIENT:
            until += timedelta(milliseconds=(budget.pair_burst - 1) * budget.period_ms)
        row.locked_until = max(until, row.locked_until or until)


def _redis_key(*parts: str) -> str:
    return ":".join(("ratelimit", *parts))


def _clock_argument(now: datetime | None) -> list[int]:
    """The scripts' optional last argument: ``now`` in ms since the epoch (none: Redis's own clock)."""
    return [] if now is None else [(now - EPOCH) // timedelta(milliseconds=1)]


def _redis_take(budget: SendBudget, now: datetime | None) -> Grant:
    keys = [
        _redis_key(budget.channel_key),
        _redis_key(budget.channel_key, "hold"),
        _redis_key(budget.recipient_key or "none"),
    ]
    arguments = [budget.channel_rate, budget.guard_ms, budget.period_ms, budget.pair_burst, COUNTER_TTL_MS]
    arguments += _clock_argument(now)
    refused, wait_ms, refusals = redis_client().eval(_TAKE_SCRIPT, len(keys), *keys, *arguments)
    if not refused:
        return Grant(True)
    return Grant(False, int(wait_ms) / 1000, REFUSED_BY[int(refused)], int(refusals) / budget.channel_rate)


def _database_take(budget: SendBudget, now: datetime) -> Grant:
    """The same rules on locked rows: the channel's row (its hold), its second's counter (and the next
    second's when the grant is in the guard zone), then the recipient's row; always locked in that order."""
    second = now.replace(microsecond=0)
    left = second + timedelta(seconds=1) - now
    spills = left <= timedelta(milliseconds=budget.guard_ms)
    with transaction.atomic(), _rows(budget, now, second, spills=spills) as rows:
        hold, counter = rows[0], rows[1]
        if hold.locked_until and hold.locked_until > now:
            return Grant(False, (hold.locked_until - now).total_seconds(), CHANNEL)
        if counter.attempts >= budget.channel_rate:
            return Grant(False, left.total_seconds(), CHANNEL)
        if budget.recipient_key:
            pair = rows[-1]
            period = timedelta(milliseconds=budget.period_ms)
            arrival = max(pair.locked_until or now, now)
            early = arrival - now - (budget.pair_burst - 1) * period
            if early > timedelta(0):
                return Grant(False, early.total_seconds(), RECIPIENT)
            pair.locked_until = pair.window_ends_at = arrival + period
        for row in rows[1 : 3 if spills else 2]:
            row.attempts += 1
    return Grant(True)


@contextmanager
def _rows(budget: SendBudget, now: datetime, second: datetime, *, spills: bool) -> Iterator[list[ThrottleBucket]]:
    keys = [budget.channel_key, *_counter_keys(budget, second, spills=spills)]
    if budget.recipient_key:
        keys.append(budget.recipient_key)
    with ExitStack() as stack:
        rows = [stack.enter_context(locked_bucket(key, now=now)) for key in keys]
        for offset, row in enumerate(rows[1 : 3 if spills else 2], start=2):
            row.window_ends_at = second + timedelta(seconds=offset)  # then core.throttle's prune drops it
        yield rows


def _counter_keys(budget: SendBudget, second: datetime, *, spills: bool) -> list[str]:
    first = int(second.timestamp())
    return [f"{budget.channel_key}:{first + offset}" for offset in range(2 if spills else 1)]
