"""Send budgets: both buckets or neither, never more than the rate in a second, pair rate, holds.

Redis and the database fallback, both on logical time (each call is given ``now``): exact waits, and no test
waits for a real second to start or end."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core import ratelimit
from core.ratelimit import (
    CHANNEL,
    RECIPIENT,
    SendBudget,
    _database_take,
    send_budget_hold,
    send_budget_take,
    send_budgets_take,
)
from core.redis import redis_configured
from core.send_schedule import SCHEDULE_HORIZON_MS

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
AT = START + timedelta(milliseconds=300)  # 700 ms before the next second: outside the guard zone
SECOND = timedelta(seconds=1)


def budget(rate: int = 5, *, recipient: str | None = None, period: float = 6.0, burst: int = 3) -> SendBudget:
    return SendBudget(
        channel_key="send:channel:test",
        channel_rate=rate,
        recipient_key=recipient,
        pair_period_seconds=period,
        pair_burst=burst,
        guard_ms=100,
    )


@pytest.fixture(autouse=True)
def _keys_outlive_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis expires the counters in real time, the budgets here run on logical time: none may expire mid-test."""
    monkeypatch.setattr(ratelimit, "COUNTER_TTL_MS", 600_000)


@pytest.fixture(params=["redis", "database"])
def backend(request: pytest.FixtureRequest, settings: pytest.FixtureRequest) -> str:
    if request.param == "redis" and not redis_configured():
        pytest.skip("the Redis budget needs REDIS_URL (the database one, the embedded default's, runs)")
    if request.param == "database":
        settings.REDIS_URL = ""  # type: ignore[attr-defined]
    return str(request.param)


def test_the_channel_grants_its_rate_then_says_how_long_to_wait(backend: str) -> None:
    grants = [send_budget_take(budget(rate=5), now=AT) for _ in range(6)]

    assert [grant.is_granted for grant in grants] == [True] * 5 + [False]
    assert (grants[-1].refused_by, grants[-1].wait_seconds) == (CHANNEL, 0.7)  # until the next second
    assert send_budget_take(budget(rate=5), now=START + SECOND).is_granted


def test_a_refusal_by_the_recipient_takes_nothing_from_the_channel(backend: str) -> None:
    first = send_budget_take(budget(rate=2, recipient="send:pair:a", burst=1), now=AT)
    refused = send_budget_take(budget(rate=2, recipient="send:pair:a", burst=1), now=AT)
    other = send_budget_take(budget(rate=2, recipient="send:pair:b", burst=1), now=AT)
    over = send_budget_take(budget(rate=2, recipient="send:pair:c", burst=1), now=AT)

    assert first.is_granted and other.is_granted
    assert (refused.is_granted, refused.refused_by, refused.wait_seconds) == (False, RECIPIENT, 6.0)
    assert (over.is_granted, over.refused_by, over.wait_seconds) == (False, CHANNEL, 0.7)
    # ...and the channel's refusal took nothing from recipient c: it gets its send in the next second.
    assert send_budget_take(budget(rate=2, recipient="send:pair:c", burst=1), now=AT + SECOND * 0.7).is_granted


def test_pair_rate_allows_a_burst_then_one_per_period() -> None:
    pair = budget(rate=100, recipient="send:pair:x", period=6.0, burst=3)
    moments = [START + timedelta(seconds=offset) for offset in (0, 0.1, 0.2, 0.3, 5.9, 6.05, 6.1, 12.05)]

    grants = [_database_take(pair, moment) for moment in moments]

    assert [grant.is_granted for grant in grants] == [True, True, True, False, False, True, False, True]
    assert grants[3].refused_by == RECIPIENT
    assert grants[3].wait_seconds == pytest.approx(5.7)


@pytest.mark.parametrize("latency_ms", [0, 99])
def test_no_wall_clock_second_at_the_receiver_sees_more_than_the_rate(latency_ms: int) -> None:
    """Ask every 3 ms for 2.4 s (crossing two second boundaries); each send arrives ``latency_ms`` later (below
    the 100 ms guard). Counted by the second it arrives in, as the simulator and Meta count, no second holds
    more than the rate."""
    rate = 50
    arrivals: Counter[int] = Counter()
    for step in range(800):
        moment = START + timedelta(milliseconds=300 + 3 * step)
        if _database_take(budget(rate=rate), moment).is_granted:
            arrivals[int((moment + timedelta(milliseconds=latency_ms)).timestamp())] += 1

    assert max(arrivals.values()) <= rate
    assert sum(arrivals.values()) >= 2 * rate  # and the budget is used, not starved


def test_without_the_guard_a_late_arrival_would_overflow_a_second() -> None:
    """Why the guard exists: grants at the end of one second, arriving in the next, plus that second's own."""
    rate = 5
    unguarded = SendBudget(channel_key="send:channel:bare", channel_rate=rate, guard_ms=0)
    arrivals: Counter[int] = Counter()
    for moment in [START + timedelta(milliseconds=950 + step) for step in range(5)] + [
        START + timedelta(seconds=1, milliseconds=100 + step) for step in range(5)
    ]:
        if _database_take(unguarded, moment).is_granted:
            arrivals[int((moment + timedelta(milliseconds=60)).timestamp())] += 1

    assert max(arrivals.values()) == 2 * rate


@pytest.mark.skipif(not redis_configured(), reason="a case of the Redis budget, which needs REDIS_URL")
def test_concurrent_takers_share_one_budget_per_second_in_redis() -> None:
    """Eight threads, each asking 20 times in each of three seconds (logical time: each ask names its second),
    interleaved as the threads run: each second grants exactly the rate, however the asks mix."""
    rate, threads_count = 40, 8
    granted: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(threads_count)

    def hammer(thread: int) -> None:
        start.wait()
        for second in range(3):
            for ask in range(20):
                moment = AT + second * SECOND + timedelta(milliseconds=ask * threads_count + thread)
                if send_budget_take(budget(rate=rate), now=moment).is_granted:
                    with lock:
                        granted[second] += 1

    threads = [threading.Thread(target=hammer, args=(thread,)) for thread in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert granted == {0: rate, 1: rate, 2: rate}


def test_a_channel_hold_refuses_every_send_for_its_duration(backend: str) -> None:
    channel_budget = budget(rate=100)
    send_budget_hold(channel_budget, scope=CHANNEL, seconds=5, now=AT)

    grant = send_budget_take(channel_budget, now=AT)
    last = send_budget_take(channel_budget, now=AT + timedelta(milliseconds=4999))

    assert (grant.is_granted, grant.refused_by, grant.wait_seconds) == (False, CHANNEL, 5.0)
    assert (last.is_granted, last.refused_by, last.wait_seconds) == (False, CHANNEL, 0.001)
    assert send_budget_take(channel_budget, now=AT + 5 * SECOND).is_granted


def test_a_recipient_hold_refuses_only_that_recipient(backend: str) -> None:
    held = budget(rate=100, recipient="send:pair:held", period=1.0, burst=2)
    send_budget_hold(held, scope=RECIPIENT, seconds=4, now=AT)

    refused = send_budget_take(held, now=AT)
    other = send_budget_take(budget(rate=100, recipient="send:pair:other", period=1.0, burst=2), now=AT)

    assert (refused.is_granted, refused.refused_by, refused.wait_seconds) == (False, RECIPIENT, 4.0)
    assert other.is_granted
    assert send_budget_take(held, now=AT + 4 * SECOND).is_granted


def test_a_budget_needs_a_rate() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        send_budget_take(budget(rate=0))


@pytest.mark.skipif(not redis_configured(), reason="a case of the Redis budget, which needs REDIS_URL")
def test_a_refused_group_is_given_the_next_places_in_the_channels_schedule_outside_the_guard_zone() -> None:
    """Rate 10, guard 100 ms, all at .3 s: 10 granted, then the 29 refused are due back from the next second, 10 a
    second. A second's 10 places fill its 850 ms before the guard zone and its margin, 85 ms each: the next
    refusal takes the tenth place of the third second after (.765), and the one after it the next second."""
    channel = budget(rate=10)

    grants = [
        *send_budgets_take([channel] * 39, now=AT),
        *send_budgets_take([channel], now=AT),
        *send_budgets_take([channel], now=AT),
    ]

    assert [grant.is_granted for grant in grants] == [True] * 10 + [False] * 31
    refused = grants[10:]
    assert {grant.refused_by for grant in refused} == {CHANNEL}
    assert all(grant.is_scheduled for grant in refused)
    waits = [round(grant.wait_seconds, 3) for grant in refused]
    assert waits == [0.7] * 10 + [1.7] * 10 + [2.7] * 9 + [3.465, 3.7]


@pytest.mark.skipif(not redis_configured(), reason="a case of the Redis budget, which needs REDIS_URL")
def test_sends_published_ahead_come_due_a_seconds_rate_at_a_time_before_each_guard_zone() -> None:
    """The relay's 20 sends for rate 10 in pieces of at most 4, at .3 s: the current second's places left (from
    the fourth, at .34), then 10 a second, no piece crossing a second's tenth place. A send refused afterwards
    queues behind them; the pieces of the next second, taken as they come due, are granted and fill it exactly."""
    channel = budget(rate=10)

    pieces = ratelimit.send_schedule_reserve(channel, 20, most=4, now=AT)
    refused = send_budgets_take([channel] * 11, now=AT)[10]

    assert pieces == [(0.04, 4), (0.38, 2), (0.7, 4), (1.04, 4), (1.38, 2), (1.7, 4)]
    assert refused.wait_seconds == pytest.approx(2.04)
    taken = [send_budgets_take([channel] * size, now=AT + timedelta(seconds=wait)) for wait, size in pieces[2:5]]
    assert all(grant.is_granted for group in taken for grant in group)
    assert not send_budget_take(channel, now=AT + timedelta(seconds=1.5)).is_granted


@pytest.mark.skipif(not redis_configured(), reason="a case of the Redis budget, which needs REDIS_URL")
@pytest.mark.parametrize(("rate", "guard_ms", "last_offset_ms"), [(1000, 250, 699), (80, 999, 0), (1, 250, 0)])
def test_one_at_a_time_the_schedule_never_gives_a_second_more_than_its_rate(
    rate: int, guard_ms: int, last_offset_ms: int
) -> None:
    """Places taken one by one, as many as two and a half seconds hold: each second gets at most its rate, every
    place before the second's guard zone (with a guard of 999 ms, at the second's very start)."""
    channel = replace(budget(rate=rate), guard_ms=guard_ms)
    moment = START + timedelta(seconds=1)

    dues = [
        moment + timedelta(seconds=wait)
        for _ in range(rate * 5 // 2)
        for wait, _ in ratelimit.send_schedule_reserve(channel, 1, most=1, now=moment)
    ]

    per_second = Counter(due.replace(microsecond=0) for due in dues)
    assert len(dues) == rate * 5 // 2
    assert max(per_second.values()) == rate
    assert max(due.microsecond // 1000 for due in dues) == last_offset_ms


@pytest.mark.skipif(not redis_configured(), reason="a case of the Redis budget, which needs REDIS_URL")
def test_no_place_is_given_past_the_horizon() -> None:
    """Rate 10 at .3 s: the places left in this second and the next ten seconds' first ones up to the 10 s horizon
    (a piece is due at its first place): 6 + 9 x 10 + 10. A send refused after that is left to the relay."""
    channel = budget(rate=10)

    pieces = ratelimit.send_schedule_reserve(channel, 150, most=150, now=AT)
    refused = send_budgets_take([channel] * 11, now=AT)[10]

    assert sum(size for _, size in pieces) == 106
    assert max(wait for wait, _ in pieces) < SCHEDULE_HORIZON_MS / 1000
    assert refused.wait_seconds == pytest.approx(SCHEDULE_HORIZON_MS / 1000 + 0.001)


def test_without_redis_every_group_is_due_at_once(settings: pytest.FixtureRequest) -> None:
    settings.REDIS_URL = ""  # type: ignore[attr-defined]

    assert ratelimit.send_schedule_reserve(budget(rate=10), 10, most=4, now=AT) == [(0.0, 4), (0.0, 4), (0.0, 2)]
