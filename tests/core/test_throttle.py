from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core import throttle
from core.models import ThrottleBucket
from core.redis import redis_client, redis_configured
from core.throttle import ThrottlePolicy, throttle_hit, throttle_prune, throttle_refund, throttle_reset
from tests.clock import StoppedClock

POLICY = ThrottlePolicy(attempts=3, window_seconds=900, cooloff_seconds=(60, 300, 900), strike_memory_seconds=86400)


@pytest.fixture(params=["redis", "database"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "redis" and not redis_configured():
        pytest.skip("the Redis backend needs REDIS_URL (the database one, the embedded default's, runs)")
    if request.param == "database":
        monkeypatch.setattr(throttle, "redis_configured", lambda: False)
    return str(request.param)


def _expire_lock(backend: str, key: str) -> None:
    if backend == "redis":
        redis_client().delete(f"throttle:{key}:lock")
    else:
        ThrottleBucket.objects.filter(key=key).update(locked_until=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_allows_the_configured_attempts_then_cools_off(backend: str) -> None:
    verdicts = [throttle_hit(key="k", policy=POLICY) for _ in range(5)]

    assert [verdict.allowed for verdict in verdicts] == [True, True, True, False, False]
    assert verdicts[3].locked_now is True
    assert verdicts[3].retry_after_seconds == 60
    assert verdicts[4].locked_now is False
    assert 0 < verdicts[4].retry_after_seconds <= verdicts[3].retry_after_seconds  # what is left: no new cool-off


@pytest.mark.django_db
def test_a_refusal_during_the_cool_off_says_what_is_left_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the database's logical clock (Redis counts the cool-off in its keys' real time)."""
    monkeypatch.setattr(throttle, "redis_configured", lambda: False)
    clock = StoppedClock(timezone.now())
    monkeypatch.setattr(throttle, "timezone", clock)
    started = clock.at
    assert [throttle_hit(key="k", policy=POLICY).allowed for _ in range(4)] == [True, True, True, False]

    clock.at = started + timedelta(seconds=45.5)
    during = throttle_hit(key="k", policy=POLICY)
    clock.at = started + timedelta(seconds=60)
    after = throttle_hit(key="k", policy=POLICY)

    assert (during.allowed, during.locked_now, during.retry_after_seconds) == (False, False, 15)
    assert after.allowed


@pytest.mark.django_db
def test_cool_offs_grow_per_strike_and_are_capped(backend: str) -> None:
    cooloffs = []
    for _ in range(5):
        verdicts = [throttle_hit(key="k", policy=POLICY) for _ in range(4)]
        assert [verdict.allowed for verdict in verdicts] == [True, True, True, False]
        cooloffs.append(verdicts[-1].retry_after_seconds)
        _expire_lock(backend, "k")

    assert cooloffs == [60, 300, 900, 900, 900]


@pytest.mark.django_db
def test_keys_are_independent_and_reset_clears_the_window(backend: str) -> None:
    for _ in range(3):
        throttle_hit(key="a", policy=POLICY)
    throttle_reset(key="a")

    assert throttle_hit(key="a", policy=POLICY).allowed
    assert all(throttle_hit(key="b", policy=POLICY).allowed for _ in range(3))


@pytest.mark.django_db
def test_refund_gives_one_attempt_back(backend: str) -> None:
    for _ in range(3):
        throttle_hit(key="k", policy=POLICY)
    throttle_refund(key="k")

    assert throttle_hit(key="k", policy=POLICY).allowed
    assert not throttle_hit(key="k", policy=POLICY).allowed


@pytest.mark.django_db(transaction=True)
def test_concurrent_attempts_never_exceed_the_limit(backend: str) -> None:
    def attempt(_: int) -> bool:
        try:
            return throttle_hit(key="shared", policy=POLICY).allowed
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, range(50)))

    assert results.count(True) == 3


@pytest.mark.django_db
def test_database_window_expires_and_strikes_are_forgotten() -> None:
    start = timezone.now()
    for _ in range(4):
        throttle._database_hit("k", POLICY, start)
    after_cooloff = start + timedelta(seconds=61)
    assert throttle._database_hit("k", POLICY, after_cooloff).allowed
    much_later = start + timedelta(days=2)

    verdicts = [throttle._database_hit("k", POLICY, much_later) for _ in range(4)]

    assert verdicts[-1].retry_after_seconds == 60  # strike memory ran out: back to the first tier


@pytest.mark.django_db
def test_prune_deletes_only_idle_buckets() -> None:
    now = timezone.now()
    ThrottleBucket.objects.create(key="idle", window_ends_at=now - timedelta(hours=1))
    ThrottleBucket.objects.create(key="open-window", window_ends_at=now + timedelta(minutes=5))
    ThrottleBucket.objects.create(
        key="locked", window_ends_at=now - timedelta(hours=1), locked_until=now + timedelta(minutes=5)
    )
    ThrottleBucket.objects.create(
        key="remembered", window_ends_at=now - timedelta(hours=1), strikes=2, strikes_end_at=now + timedelta(hours=3)
    )

    assert throttle_prune(now=now) == 1
    assert set(ThrottleBucket.objects.values_list("key", flat=True)) == {"open-window", "locked", "remembered"}
