"""Logs an app keeps per tenant (ids, statuses, times: metadata), as the retention purge needs them: without
importing the app that keeps them.

An app registers a purger in its ``AppConfig.ready()`` (``retained_log_register``); ``policies`` calls each one
per tenant with the moment before which that tenant's metadata goes, under the tenant's policy and its legal
holds, and records what it removed under the log's ``name``. It never names the app or its tables.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

# (tenant id, before, batch) -> rows removed: at most ``batch`` per call, each call short and its own transaction
# (or a savepoint of the caller's); the purge calls it again until it answers 0.
LogPurger = Callable[[uuid.UUID, datetime, int], int]
LogDue = Callable[[uuid.UUID, datetime], int]  # (tenant id, before) -> rows the purger would remove (a dry run)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetainedLog:
    name: str  # the purge kind its counts are recorded under
    purge: LogPurger
    due: LogDue


_lock = threading.Lock()
_logs: dict[str, RetainedLog] = {}


def retained_log_register(log: RetainedLog) -> None:
    """Register ``log``; registering the same name again replaces it."""
    with _lock:
        _logs[log.name] = log


def retained_logs() -> tuple[RetainedLog, ...]:
    """The registered logs, in registration order."""
    with _lock:
        return tuple(_logs.values())
