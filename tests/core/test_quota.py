"""core.quota: several fixed-window counters taken in one atomic step, on Redis and on the database fallback."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from core import quota
from core.models import ThrottleBucket
from core.quota import QuotaBucket, Rate, RateFormatError, quota_take, quota_window_end, rate_parse
from core.redis import redis_client, redis_configured

# A window boundary (a multiple of 60 and of 3600 seconds since the epoch), so logical times are easy to read.
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
KEY = QuotaBucket("api:reads:key:k1", "reads", Rate(3, 60))
OTHER_KEY = QuotaBucket("api:reads:key:k2", "reads", Rate(3, 60))
TENANT = QuotaBucket("api:reads:tenant:t1", "reads-tenant", Rate(4, 60))


@pytest.fixture(params=["redis", "database"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "redis" and not redis_configured():
        pytest.skip("the Redis backend needs REDIS_URL (the database one, the embedded default's, runs)")
    if request.param == "database":
        monkeypatch.setattr(quota, "redis_configured", lambda: False)
    return str(request.param)


def test_rates_are_requests_per_seconds() -> None:
    assert rate_parse(" 600/60 ") == Rate(600, 60)
    assert str(Rate(10, 3600)) == "10/3600"
    for bad in ("600", "600/", "0/60", "10/0", "-1/60", "ten/60", "1/60/2", ""):
        with pytest.raises(RateFormatError):
            rate_parse(bad)


@pytest.mark.django_db
def test_a_bucket_allows_its_limit_then_refuses_until_its_window_ends(backend: str) -> None:
    verdicts = [quota_take([KEY], now=T0 + timedelta(seconds=10)) for _ in range(4)]

    assert [verdict.allowed for verdict in verdicts] == [True, True, True, False]
    assert [verdict.states[0].remaining for verdict in verdicts] == [2, 1, 0, 0]
    assert verdicts[3].refused_by == KEY
    assert (verdicts[3].states[0].reset_seconds, verdicts[3].retry_after_seconds) == (50, 50)
    assert not quota_take([KEY], now=T0 + timedelta(seconds=59, microseconds=999_000)).allowed
    assert quota_take([KEY], now=T0 + timedelta(seconds=60)).allowed  # the next window starts empty
    assert quota_window_end(KEY.rate, T0 + timedelta(seconds=60)) == T0 + timedelta(seconds=120)


@pytest.mark.django_db
def test_a_request_refused_by_one_bucket_takes_nothing_from_the_others(backend: str) -> None:
    """The tenant's 4 are shared by its keys; the key that hits the tenant's limit keeps its own count."""
    first = [quota_take([KEY, TENANT], now=T0).allowed for _ in range(3)]
    refused_by_key = quota_take([KEY, TENANT], now=T0)
    other = [quota_take([OTHER_KEY, TENANT], now=T0) for _ in range(2)]

    assert first == [True, True, True]
    assert (refused_by_key.allowed, refused_by_key.refused_by) == (False, KEY)
    assert [verdict.allowed for verdict in other] == [True, False]  # the tenant had 1 left, not 0
    assert other[1].refused_by == TENANT
    assert [state.remaining for state in other[1].states] == [2, 0]  # the refused request took none of the key's


@pytest.mark.django_db
def test_buckets_are_independent(backend: str) -> None:
    for _ in range(3):
        quota_take([KEY], now=T0)

    assert not quota_take([KEY], now=T0).allowed
    assert quota_take([OTHER_KEY], now=T0).allowed


@pytest.mark.django_db
def test_the_database_fallback_keeps_one_row_per_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quota, "redis_configured", lambda: False)
    quota_take([KEY, TENANT], now=T0)
    quota_take([KEY, TENANT], now=T0 + timedelta(seconds=61))

    rows = {row.key: (row.attempts, row.window_ends_at) for row in ThrottleBucket.objects.all()}
    assert rows == {
        f"quota:{KEY.key}": (1, T0 + timedelta(seconds=120)),
        f"quota:{TENANT.key}": (1, T0 + timedelta(seconds=120)),
    }


def _concurrent_takes(buckets: list[QuotaBucket], requests: int) -> list[bool]:
    with ThreadPoolExecutor(max_workers=requests) as pool:
        return list(pool.map(lambda _: quota_take(buckets, now=T0).allowed, range(requests)))


def test_fifty_concurrent_requests_against_a_limit_of_ten_let_exactly_ten_through_on_redis() -> None:
    """T4: the count is taken atomically in Redis, shared by every process and thread."""
    if not redis_configured():
        pytest.skip("needs REDIS_URL: the embedded default counts in the database (see the PostgreSQL test)")
    key = QuotaBucket("api:exports:key:k1", "exports", Rate(10, 3600))
    tenant = QuotaBucket("api:exports:tenant:t1", "exports-tenant", Rate(1000, 3600))

    allowed = _concurrent_takes([key, tenant], 50)

    assert allowed.count(True) == 10
    assert quota_take([tenant], now=T0).states[0].remaining == 1000 - 10 - 1  # refusals took nothing


EXPORTS_KEY = QuotaBucket("api:exports:key:k9", "exports", Rate(10, 3600))


def _takes_in_a_process(count: int) -> list[bool]:
    redis_client.cache_clear()  # a connection of its own, not the parent's
    return [quota_take([EXPORTS_KEY], now=T0).allowed for _ in range(count)]


def test_processes_share_the_count_on_redis() -> None:
    """Five processes (as five web workers would be) taking ten each against one limit of ten."""
    if not redis_configured():
        pytest.skip("needs REDIS_URL: without it each installation is one process over one database")
    with multiprocessing.get_context("fork").Pool(5) as pool:
        allowed = [verdict for verdicts in pool.map(_takes_in_a_process, [10] * 5) for verdict in verdicts]

    assert (len(allowed), allowed.count(True)) == (50, 10)


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_requests_against_a_limit_of_ten_on_the_database_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The locked rows serialise the takes; on PostgreSQL each thread has its own connection."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite in tests shares one in-memory database across threads poorly")
    monkeypatch.setattr(quota, "redis_configured", lambda: False)
    key = QuotaBucket("api:exports:key:k1", "exports", Rate(10, 3600))

    def take(_: int) -> bool:
        try:
            return quota_take([key], now=T0).allowed
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        allowed = list(pool.map(take, range(50)))

    assert allowed.count(True) == 10
    assert ThrottleBucket.objects.get(key=f"quota:{key.key}").attempts == 10
