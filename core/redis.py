from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# What a client is told to wait when Redis cannot be reached (a restart or failover takes about this long).
REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS = 30


class RedisUnavailableError(Exception):
    """Redis could not be reached. Callers that need it (throttles) refuse the request with a 503 rather than
    go on without it: a security throttle that is skipped when its store is down is no throttle."""

    def __init__(self) -> None:
        super().__init__("Redis is unreachable")


def redis_configured() -> bool:
    return bool(settings.REDIS_URL)


@cache
def redis_client() -> redis.Redis:
    """The shared Redis client (connection pool) for counters, buckets and locks."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)


def redis_outage(exception: BaseException) -> bool:
    """Whether ``exception`` means Redis is out of reach: raised by ``redis_required`` or straight from the
    client (a lock, a rate-limit bucket). A request it ends answers 503, never a 500."""
    return isinstance(
        exception, RedisUnavailableError | redis.exceptions.ConnectionError | redis.exceptions.TimeoutError
    )


@contextmanager
def redis_required() -> Iterator[None]:
    """Turn a connection failure or timeout inside the block into RedisUnavailableError (logged once here,
    by class name only: redis-py's messages carry the URL, which may hold a password)."""
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
        logger.warning("redis unreachable", extra={"error": type(error).__name__})
        raise RedisUnavailableError from None
