"""When a failed delivery is tried again: the retry schedule (settings.GATEWAY_EVENTS_RETRY_SCHEDULE, close to the
Standard Webhooks one) with ±20 % jitter so that retries of one outage do not all land at once, and a consumer's
own ``Retry-After`` (429, 503) within a bound."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings

JITTER = 0.2
RETRY_AFTER_MIN_SECONDS = 1.0


def retry_delay(attempts: int) -> timedelta | None:
    """The wait after the ``attempts``-th failed attempt; None when the schedule is used up (the delivery fails)."""
    schedule: list[float] = settings.GATEWAY_EVENTS_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    return timedelta(seconds=schedule[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER))  # noqa: S311


def retry_after_delay(header: str | None, *, now: datetime) -> timedelta | None:
    """The wait a ``Retry-After`` header asks for (seconds or an HTTP date), bounded; None when absent or unreadable."""
    if not header:
        return None
    seconds = _seconds(header.strip(), now)
    if seconds is None:
        return None
    bounded = min(max(seconds, RETRY_AFTER_MIN_SECONDS), float(settings.GATEWAY_EVENTS_RETRY_AFTER_MAX_SECONDS))
    return timedelta(seconds=bounded)


def _seconds(value: str, now: datetime) -> float | None:
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return (when - now).total_seconds()
