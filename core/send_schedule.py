"""The channel's send schedule, a Lua function for core.ratelimit's scripts: the places in each second that sends
given back after a refusal, and the relay's paced batches, are due at (``core.ratelimit.send_schedule_reserve``)."""

from __future__ import annotations

SCHEDULE_MARGIN_MS = 50  # a second's places end this long before its guard zone, for the way to the worker
SCHEDULE_HORIZON_MS = 10_000  # no place is given further ahead than this (the longest countdown a send is given)

# The channel's schedule (``<channel key>:return``): the time up to which its rate is promised to sends due back
# (refused) or due out (published ahead by the relay). Each second has ``rate`` places, spread over its part
# before the guard zone and a margin (so a second can be used in full and none is counted twice); ``count`` sends
# take the next places from the schedule's end (``earliest`` at the soonest), as pieces of at most ``most`` within
# one second, each due at its first place, up to ``horizon`` (ms; sends past it get no place). The end is kept in
# microseconds, so every place maps back to itself whatever the rate. Returns the pieces: {due time (ms), size}.
SCHEDULE_PLACE_LUA = """
local function schedule_place(key, count, most, earliest, horizon, rate, guard, ttl)
  local usable = 1000 - guard - SCHEDULE_MARGIN_MS
  if usable < 1 then usable = math.max(1000 - guard, 1) end
  local span = usable * 1000
  local from = math.max(tonumber(redis.call('GET', key) or '0'), earliest * 1000)
  local second = math.floor(from / 1000000)
  local place = math.ceil((from - second * 1000000) * rate / span)
  local pieces = {}
  while count > 0 do
    if place >= rate then second, place = second + 1, 0 end
    local due = second * 1000 + math.floor(place * span / rate / 1000)
    if due >= horizon then break end
    local size = math.min(count, most, rate - place)
    pieces[#pieces + 1] = {due, size}
    count, place = count - size, place + size
  end
  local ends = second * 1000000 + math.floor(place * span / rate)
  redis.call('SET', key, string.format('%d', ends), 'PX', math.max(math.ceil(ends / 1000) - now, 0) + ttl)
  return pieces
end
""".replace("SCHEDULE_MARGIN_MS", str(SCHEDULE_MARGIN_MS))
