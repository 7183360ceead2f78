"""API-key guessing: failures counted per key id and per address, refused with 429 before any lookup once over the
limit, one audit event per cool-off, and a valid key from elsewhere unaffected."""

from __future__ import annotations

import logging
import socket
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.apikey_guard import ApiKeyThrottledError
from accounts.apikeys import ApiKeyRejectedError, IssuedKey, api_key_authenticate, api_key_format, api_key_issue
from accounts.models import ApiKey, ApiScope, Tenant
from audit.models import AuditAction, AuditEvent
from core import throttle
from core.models import ThrottleBucket
from core.redis import redis_client, redis_configured
from tests.problems import PROBLEM_CONTENT_TYPE, problem

ATTACKER = "198.51.100.66"
CLIENT = "203.0.113.5"
KEY_LIMIT = 10
ADDRESS_LIMIT = 50
REJECTED, THROTTLED = "rejected", "throttled"


@pytest.fixture(autouse=True)
def _limits(settings: pytest.FixtureRequest) -> None:
    settings.API_KEY_THROTTLE_KEY_ATTEMPTS = KEY_LIMIT  # type: ignore[attr-defined]
    settings.API_KEY_THROTTLE_ADDRESS_ATTEMPTS = ADDRESS_LIMIT  # type: ignore[attr-defined]
    settings.API_KEY_THROTTLE_WINDOW_SECONDS = 900  # type: ignore[attr-defined]
    settings.API_KEY_THROTTLE_COOLOFF_SECONDS = [60, 300, 900, 3600]  # type: ignore[attr-defined]


@pytest.fixture(params=["redis", "database"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "redis" and not redis_configured():
        pytest.skip("the Redis backend needs REDIS_URL (the database one, the embedded default's, runs)")
    if request.param == "database":
        monkeypatch.setattr(throttle, "redis_configured", lambda: False)
    return str(request.param)


@pytest.fixture
def key_a(tenant_a: Tenant) -> IssuedKey:
    return api_key_issue(tenant=tenant_a, name="A reader", scopes=[ApiScope.KEYS_READ])


@pytest.fixture
def key_b(tenant_b: Tenant) -> IssuedKey:
    return api_key_issue(tenant=tenant_b, name="B reader", scopes=[ApiScope.KEYS_READ])


def wrong_secret(issued: IssuedKey, index: int) -> str:
    return api_key_format(environment="test", key_id=issued.api_key.key_id, secret=f"{index:022d}")


def made_up_key(index: int) -> str:
    return api_key_format(environment="test", key_id=f"{index:010d}", secret="x" * 22)


def attempt(raw_key: str, *, ip: str = ATTACKER) -> str:
    try:
        api_key_authenticate(raw_key=raw_key, ip=ip)
    except ApiKeyThrottledError:
        return THROTTLED
    except ApiKeyRejectedError:
        return REJECTED
    return "ok"


def cooloffs() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.API_KEY_COOLOFF).order_by("occurred_at", "seq"))


@contextmanager
def apikey_queries() -> Iterator[list[str]]:
    """Every statement run inside the block that reads or writes the key table (no cap on how many are seen)."""
    table, seen = ApiKey._meta.db_table, []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if table in sql:
            seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def expire_lock(backend: str, bucket: str) -> None:
    if backend == "redis":
        redis_client().delete(f"throttle:{bucket}:lock")
    else:
        ThrottleBucket.objects.filter(key=bucket).update(locked_until=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_three_thousand_guesses_at_one_key_reach_the_check_ten_times(
    backend: str, key_a: IssuedKey, key_b: IssuedKey
) -> None:
    guesses = 3000 if backend == "redis" else 300  # a locked row per refusal: the same proof, ten times shorter
    first = Counter(attempt(wrong_secret(key_a, index)) for index in range(KEY_LIMIT + 1))
    with apikey_queries() as lookups, CaptureQueriesContext(connection) as refused:
        rest = Counter(attempt(wrong_secret(key_a, index)) for index in range(KEY_LIMIT + 1, guesses))

    assert first == Counter({REJECTED: KEY_LIMIT, THROTTLED: 1})
    assert rest == Counter({THROTTLED: guesses - KEY_LIMIT - 1})
    assert lookups == []  # no lookup, no hash compare for a key id cooling off
    if backend == "redis":
        assert refused.captured_queries == []  # nor any other query: the cool-off lives in Redis
    (event,) = cooloffs()
    assert event.tenant_id == key_a.api_key.tenant_id
    assert event.target_id == str(key_a.api_key.pk)
    assert event.details == {
        "scope": "key_id",
        "key_id": key_a.api_key.key_id,
        "address": ATTACKER,
        "retry_after_seconds": 60,
    }
    assert api_key_authenticate(raw_key=key_b.plaintext, ip=CLIENT) == key_b.api_key  # another key, elsewhere


@pytest.mark.django_db
def test_each_cool_off_is_audited_once_and_the_next_one_lasts_longer(backend: str, key_a: IssuedKey) -> None:
    for index in range(3 * KEY_LIMIT):
        attempt(wrong_secret(key_a, index))
    expire_lock(backend, f"apikey:key:{key_a.api_key.key_id}")
    second = Counter(attempt(wrong_secret(key_a, index)) for index in range(3 * KEY_LIMIT))

    assert second == Counter({REJECTED: KEY_LIMIT, THROTTLED: 2 * KEY_LIMIT})
    assert [event.details["retry_after_seconds"] for event in cooloffs()] == [60, 300]


@pytest.mark.django_db
def test_guessing_key_ids_from_one_address_cools_the_address_off(
    backend: str, key_a: IssuedKey, key_b: IssuedKey
) -> None:
    outcomes = Counter(attempt(made_up_key(index)) for index in range(ADDRESS_LIMIT + 100))

    assert outcomes == Counter({REJECTED: ADDRESS_LIMIT, THROTTLED: 100})
    (event,) = cooloffs()
    assert (event.tenant_id, event.target_type, event.target_id) == (None, "address", ATTACKER)
    assert event.details == {"scope": "address", "address": ATTACKER, "retry_after_seconds": 60}
    assert attempt(key_a.plaintext) == THROTTLED  # that address waits, whatever it presents
    assert attempt(key_a.plaintext, ip=CLIENT) == "ok"
    assert attempt(key_b.plaintext, ip="2001:db8:1:2::7") == "ok"


@pytest.mark.django_db
def test_an_ipv6_attacker_counts_by_its_64(backend: str, key_a: IssuedKey) -> None:
    outcomes = Counter(attempt(made_up_key(index), ip=f"2001:db8:1:2::{index:x}") for index in range(ADDRESS_LIMIT + 5))

    assert outcomes[THROTTLED] == 5
    assert cooloffs()[0].details["address"] == "2001:db8:1:2::/64"
    assert attempt(key_a.plaintext, ip="2001:db8:1:3::1") == "ok"


@pytest.mark.django_db
def test_successes_are_not_counted(backend: str, key_a: IssuedKey) -> None:
    for index in range(KEY_LIMIT - 1):
        attempt(wrong_secret(key_a, index))
    successes = Counter(attempt(key_a.plaintext) for _ in range(3 * ADDRESS_LIMIT))

    assert successes == Counter({"ok": 3 * ADDRESS_LIMIT})
    assert attempt(wrong_secret(key_a, 99)) == REJECTED  # the tenth failure
    assert attempt(key_a.plaintext) == THROTTLED  # the eleventh attempt at this key id: cooling off
    assert len(cooloffs()) == 1


@pytest.mark.django_db
def test_the_api_answers_429_in_the_problem_shape_and_logs_no_key(
    key_a: IssuedKey, caplog: pytest.LogCaptureFixture
) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)
    caplog.set_level(logging.DEBUG)
    statuses = []
    for index in range(KEY_LIMIT + 2):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {wrong_secret(key_a, index)}")
        response = client.get("/api/v1/tenant/")
        statuses.append(response.status_code)

    assert statuses == [401] * KEY_LIMIT + [429, 429]
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json() == problem(
        429, "throttled", f"Too many failed API key attempts. Expected available in {response['Retry-After']} seconds."
    )
    logged = caplog.text + " ".join(str(record.__dict__) for record in caplog.records)
    assert key_a.api_key.key_id not in response.content.decode()
    assert not [index for index in range(KEY_LIMIT + 2) if f"{index:022d}" in logged]
    assert key_a.plaintext not in logged


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_guesses_reach_the_check_at_most_ten_times(key_a: IssuedKey) -> None:
    if not redis_configured():
        pytest.skip("the cross-process counter under threads is Redis's (set REDIS_URL)")

    def guess(index: int) -> str:
        try:
            return attempt(wrong_secret(key_a, index))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = Counter(pool.map(guess, range(50)))

    assert outcomes == Counter({REJECTED: KEY_LIMIT, THROTTLED: 50 - KEY_LIMIT})
    assert len(cooloffs()) == 1


@pytest.fixture
def redis_down(settings: pytest.FixtureRequest) -> Iterator[None]:
    """REDIS_URL pointing at a local port that was bound and closed again: nothing listens there."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"  # type: ignore[attr-defined]
    redis_client.cache_clear()
    yield
    redis_client.cache_clear()


@pytest.mark.django_db
@pytest.mark.usefixtures("redis_down")
def test_with_redis_down_a_key_is_answered_503_and_never_looked_up(key_a: IssuedKey) -> None:
    client = APIClient(REMOTE_ADDR=CLIENT)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key_a.plaintext}")

    with apikey_queries() as lookups:
        response = client.get("/api/v1/tenant/")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert lookups == []
