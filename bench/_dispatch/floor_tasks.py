"""The durable dispatch floor: the least any correct gateway must do per send, as a Celery task the gateway's own
``celery worker`` command line runs (the run's settings import this module and route ``bench_floor.*`` to the
run's queue).

Per send, in one of the process's call threads (as many as the dispatcher's ``CALL_THREADS``):

1. lease one queued row: ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING``, committed
   before the call (a worker killed during the call leaves the row ``sending``, never sent twice by a retry);
2. POST its stored Graph body to the simulator over the thread's keep-alive ``http.client`` connection;
3. record the outcome and the attempt in one transaction: one statement (``WITH … UPDATE … INSERT``).

No encryption, no rate limits, no Django ORM: psycopg in autocommit, DATABASE_CONNECTIONS connections per process
lent to the threads one statement at a time."""

from __future__ import annotations

import http.client
import json
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from celery import shared_task

FLOOR_TASK = "bench_floor.send"
SEND_TABLE = "bench_floor_send"
ATTEMPT_TABLE = "bench_floor_attempt"
FLOOR_THREADS = 32  # the dispatcher's CALL_THREADS (bench/_dispatch/floor.py checks they agree)
DATABASE_CONNECTIONS = 4  # per process, shared by its call threads (a connection each would be 64 on a shared server)
TIMEOUT_SECONDS = 10.0

SCHEMA = f"""
CREATE TABLE {SEND_TABLE} (
    id bigserial PRIMARY KEY,
    path text NOT NULL,
    body text NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    lease_expires_at timestamptz,
    provider_message_id text,
    updated_at timestamptz
);
CREATE INDEX {SEND_TABLE}_queued ON {SEND_TABLE} (id) WHERE status = 'queued';
CREATE TABLE {ATTEMPT_TABLE} (
    id bigserial PRIMARY KEY,
    send_id bigint NOT NULL REFERENCES {SEND_TABLE} (id),
    outcome text NOT NULL,
    http_status integer,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL
);
CREATE INDEX {ATTEMPT_TABLE}_send ON {ATTEMPT_TABLE} (send_id);
"""

LEASE = f"""
UPDATE {SEND_TABLE} SET status = 'sending', lease_expires_at = now() + interval '30 seconds', updated_at = now()
WHERE id = (SELECT id FROM {SEND_TABLE} WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, path, body, now()
"""  # noqa: S608 - constant table names

RECORD = f"""
WITH moved AS (
    UPDATE {SEND_TABLE} SET status = %(status)s, provider_message_id = %(provider_id)s, lease_expires_at = NULL,
        updated_at = clock_timestamp()
    WHERE id = %(id)s AND status = 'sending' RETURNING id
)
INSERT INTO {ATTEMPT_TABLE} (send_id, outcome, http_status, started_at, finished_at)
SELECT id, %(status)s, %(http_status)s, %(started_at)s, clock_timestamp() FROM moved
"""  # noqa: S608 - constant table names


class _Thread(threading.local):
    """A call thread's own keep-alive HTTP connection."""

    http: http.client.HTTPConnection | None = None


_local = _Thread()
_pool: tuple[int, ThreadPoolExecutor] | None = None
_databases: tuple[int, queue.SimpleQueue[psycopg.Connection[Any]]] | None = None
_pool_lock = threading.Lock()


def _threads() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per process, as the dispatcher's
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=FLOOR_THREADS, thread_name_prefix="floor-send"))
        return _pool[1]


def _connections() -> queue.SimpleQueue[psycopg.Connection[Any]]:
    """The process's DATABASE_CONNECTIONS connections, lent to a thread for one statement at a time."""
    global _databases  # noqa: PLW0603 - one set per process
    with _pool_lock:
        if _databases is None or _databases[0] != os.getpid():
            idle: queue.SimpleQueue[psycopg.Connection[Any]] = queue.SimpleQueue()
            for _ in range(DATABASE_CONNECTIONS):
                idle.put(psycopg.connect(os.environ["DATABASE_URL"], autocommit=True))
            _databases = (os.getpid(), idle)
        return _databases[1]


@contextmanager
def _database() -> Iterator[psycopg.Connection[Any]]:
    idle = _connections()
    connection = idle.get()
    try:
        yield connection
    finally:
        idle.put(connection)


def _http() -> http.client.HTTPConnection:
    if _local.http is None:
        parts = urlsplit(os.environ["GATEWAY_GRAPH_BASE_URL"])
        _local.http = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT_SECONDS)
    return _local.http


def _post(path: str, body: str) -> tuple[int | None, str | None]:
    """(HTTP status, Meta's message id); (None, None) when the call got no answer (the connection is reset)."""
    connection = _http()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {os.environ['BENCH_FLOOR_TOKEN']}"}
    try:
        connection.request("POST", path, body=body.encode(), headers=headers)
        response = connection.getresponse()
        answer = response.read()
    except (OSError, http.client.HTTPException):
        connection.close()
        return None, None
    if response.status != 200:  # noqa: PLR2004
        return response.status, None
    messages = json.loads(answer).get("messages") or [{}]
    return response.status, messages[0].get("id")


def send_one() -> bool:
    """Lease one queued row, POST it, record what came of it; False when no row was left."""
    with _database() as database:
        row = database.execute(LEASE).fetchone()
    if row is None:
        return False
    send_id, path, body, started_at = row
    http_status, provider_id = _post(path, body)
    status = "accepted" if provider_id else "unconfirmed" if http_status is None else "failed"
    values = {"status": status, "provider_id": provider_id, "id": send_id, "http_status": http_status}
    with _database() as database:
        database.execute(RECORD, {**values, "started_at": started_at})
    return True


@shared_task(name=FLOOR_TASK)
def floor_send_task(count: int) -> int:
    """Up to ``count`` sends at once, one per call thread; returns how many rows were leased."""
    futures = [_threads().submit(send_one) for _ in range(count)]
    return sum(future.result() for future in futures)
