from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


def redis_configured() -> bool:
    return bool(settings.REDIS_URL)


@cache
def redis_client() -> redis.Redis:
    """The shared Redis client (connection pool) for counters, buckets and locks."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
