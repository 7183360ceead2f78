"""The counts behind the outbound volume detector, taken in one Redis round trip per accepted send.

One script call counts the send in the tenant's and the channel's sliding windows (the slot scheme of
``audit.alerts.counters``), in the tenant's and the channel's counters of the current hour (what the durable
hourly counts are fed from, ``FLUSH_EVERY`` sends at a time), and adds a never-seen recipient's contact id to
the tenant's set of new recipients. Without Redis (the embedded install) the same answers come from the
database counters, and every send is flushed at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from audit.alerts.counters import DISTINCT_MEMBERS_MAX, PREFIX, SLOTS, distinct_count, window_count
from core.redis import redis_client, redis_configured

# Hourly counts are written to the database once per this many sends of a subject (Redis counts in between).
FLUSH_EVERY = 10
HOUR_MS = 3_600_000

_SEND_SCRIPT = """
local size, slots, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local slot = math.floor(now / size)
local function windowed(prefix)
  local current = prefix .. ':' .. slot
  redis.call('INCR', current)
  redis.call('PEXPIRE', current, size * (slots + 1))
  local total = 0
  for i = 0, slots - 1 do total = total + tonumber(redis.call('GET', prefix .. ':' .. (slot - i)) or '0') end
  return total
end
local function hourly(key)
  local sent = redis.call('INCR', key)
  redis.call('PEXPIRE', key, 2 * tonumber(ARGV[7]))
  return sent
end
local result = {windowed(KEYS[1]), windowed(KEYS[2]), hourly(KEYS[3]), hourly(KEYS[4]), 0}
if ARGV[5] ~= '' then
  local window, most = tonumber(ARGV[4]), tonumber(ARGV[6])
  redis.call('ZADD', KEYS[5], now, ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - window)
  local members = redis.call('ZCARD', KEYS[5])
  if members > most then redis.call('ZPOPMIN', KEYS[5], members - most) end
  redis.call('PEXPIRE', KEYS[5], window)
  result[5] = math.min(members, most)
end
return result
"""


@dataclass(frozen=True, slots=True)
class SendCounts:
    """The window's sends of the tenant and of the channel, whether each subject's hourly count is due to be
    written (and judged) now and by how much, and the tenant's new recipients in the window (0 when this send's
    recipient is not new)."""

    tenant_sends: int
    channel_sends: int
    tenant_flush: int
    channel_flush: int
    new_recipients: int


def send_count(
    *,
    tenant_id: uuid.UUID,
    channel_id: uuid.UUID,
    new_contact_id: uuid.UUID | None,
    window_seconds: int,
    now: datetime,
) -> SendCounts:
    """Count one accepted send; ``new_contact_id`` names its recipient when it is one never seen before."""
    keys = _Keys(
        f"outbound:tenant:{tenant_id}", f"outbound:channel:{channel_id}", f"outbound:new_recipients:{tenant_id}"
    )
    member = str(new_contact_id) if new_contact_id else ""
    if not redis_configured():
        return _database_count(keys, member, window_seconds, now)
    moment_ms = int(now.timestamp() * 1000)
    hour = moment_ms // HOUR_MS
    names = [
        f"{PREFIX}:{keys.tenant}",
        f"{PREFIX}:{keys.channel}",
        f"{PREFIX}:{keys.tenant}:hour:{hour}",
        f"{PREFIX}:{keys.channel}:hour:{hour}",
        f"{PREFIX}:{keys.recipients}",
    ]
    slot_ms = max(1, -(-window_seconds * 1000 // SLOTS))
    arguments: list[int | str] = [slot_ms, SLOTS, moment_ms, window_seconds * 1000, member, DISTINCT_MEMBERS_MAX]
    answer = redis_client().eval(_SEND_SCRIPT, len(names), *names, *arguments, HOUR_MS)
    tenant, channel, tenant_hour, channel_hour, recipients = (int(value) for value in answer)
    return SendCounts(
        tenant_sends=tenant,
        channel_sends=channel,
        tenant_flush=FLUSH_EVERY if tenant_hour % FLUSH_EVERY == 0 else 0,
        channel_flush=FLUSH_EVERY if channel_hour % FLUSH_EVERY == 0 else 0,
        new_recipients=recipients,
    )


@dataclass(frozen=True, slots=True)
class _Keys:
    tenant: str
    channel: str
    recipients: str


def _database_count(keys: _Keys, member: str, window_seconds: int, now: datetime) -> SendCounts:
    recipients = 0
    if member:
        recipients = distinct_count(key=keys.recipients, member=member, window_seconds=window_seconds, now=now)
    return SendCounts(
        tenant_sends=window_count(key=keys.tenant, window_seconds=window_seconds, now=now),
        channel_sends=window_count(key=keys.channel, window_seconds=window_seconds, now=now),
        tenant_flush=1,
        channel_flush=1,
        new_recipients=recipients,
    )
