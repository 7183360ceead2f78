"""Daily reach: distinct recipients per scope in a moving 24 hours, on Redis and in memory, on logical time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.reach import Reach, reach_take
from core.redis import redis_configured

AT = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


@pytest.fixture(params=["redis", "memory"])
def backend(request: pytest.FixtureRequest, settings: pytest.FixtureRequest) -> str:
    if request.param == "redis" and not redis_configured():
        pytest.skip("the Redis reach needs REDIS_URL (the in-memory one, the embedded default's, runs)")
    if request.param == "memory":
        settings.REDIS_URL = ""  # type: ignore[attr-defined]
    return str(request.param)


def test_new_recipients_are_admitted_up_to_the_limit_and_a_known_one_costs_nothing(backend: str) -> None:
    taken = [reach_take(scope="waba:1", recipient=name, limit=2, now=AT) for name in ("a", "b", "a", "b")]

    assert taken == [Reach(True)] * 4


def test_one_more_waits_until_the_oldest_leaves_the_moving_day(backend: str) -> None:
    reach_take(scope="waba:1", recipient="a", limit=2, now=AT)
    reach_take(scope="waba:1", recipient="b", limit=2, now=AT + timedelta(hours=1))

    refused = reach_take(scope="waba:1", recipient="c", limit=2, now=AT + timedelta(hours=2))
    admitted = reach_take(scope="waba:1", recipient="c", limit=2, now=AT + DAY + timedelta(seconds=1))

    assert refused == Reach(False, (DAY - timedelta(hours=2)).total_seconds())
    assert admitted == Reach(True)


def test_scopes_count_apart(backend: str) -> None:
    reach_take(scope="waba:1", recipient="a", limit=1, now=AT)

    assert reach_take(scope="waba:2", recipient="b", limit=1, now=AT) == Reach(True)
    assert reach_take(scope="waba:1", recipient="b", limit=1, now=AT).is_granted is False


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        reach_take(scope="waba:1", recipient="a", limit=0)
