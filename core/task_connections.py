"""A worker's database connections kept from one task to the next, as the web process keeps them between requests.

Celery's Django fix-up closes every connection before and after every task (since Celery 5.6: Django's
``close_if_unusable_or_obsolete`` alone cannot tell a connection left mid-query by a time limit from a sound one).
On PostgreSQL that is a new server process, its authentication and its empty caches for every task, and no
statement ever reaches psycopg's prepare threshold: about 1 ms of CPU per send, more than the send's own queries.

Here a connection is kept only when the task succeeded and the connection is plainly at rest: autocommit on, no
atomic block open, no error since its last commit, and (PostgreSQL) the server's own word that no transaction or
query is in progress. Every other connection is closed, as Celery would. Before a task, connections older than
``CONN_MAX_AGE`` are closed and the rest health-checked at their first query (``CONN_HEALTH_CHECKS``), as Django
does before a request. Where ``CONN_MAX_AGE`` is 0 (the embedded SQLite default) every task still gets a new one.
Celery's own closing is put off by ``CELERY_DB_REUSE_MAX`` in settings (after that many tasks, twice counted).
"""

from __future__ import annotations

from typing import Any

from celery import Task, states
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg.pq import TransactionStatus


def task_connections_check(sender: Task[Any, Any] | None = None, **_: object) -> None:
    """``task_prerun`` receiver: connections past their age or known broken are closed; the others are
    health-checked at their first query."""
    if not _run_by_worker(sender):
        return
    for connection in connections.all(initialized_only=True):
        connection.close_if_unusable_or_obsolete()


def task_connections_settle(sender: Task[Any, Any] | None = None, state: str | None = None, **_: object) -> None:
    """``task_postrun`` receiver: after a successful task a connection at rest is kept; any other is closed."""
    if not _run_by_worker(sender):
        return
    for connection in connections.all(initialized_only=True):
        if state == states.SUCCESS and connection_at_rest(connection):
            connection.close_if_unusable_or_obsolete()
        else:
            connection.close()


def _run_by_worker(task: Task[Any, Any] | None) -> bool:
    """Whether the task ran in a worker, not in the caller's process (``apply``, eager mode: the caller's
    connections and transaction are not the task's to close), as Celery's own fix-up decides."""
    return task is not None and not getattr(task.request, "is_eager", False)


def connection_at_rest(connection: BaseDatabaseWrapper) -> bool:
    """Whether ``connection`` is closed or open with nothing in progress: safe to hand to the next task."""
    raw: Any = connection.connection
    if raw is None:
        return True
    if connection.in_atomic_block or not connection.get_autocommit() or connection.errors_occurred:
        return False
    if connection.vendor == "postgresql":
        return bool(raw.info.transaction_status == TransactionStatus.IDLE)
    return True
