"""A worker keeps a sound database connection from one task to the next and drops any other."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import states
from celery.fixups.django import DjangoWorkerFixup  # type: ignore[attr-defined]  # missing from celery-types
from django.db import connection, transaction

from core.task_connections import connection_at_rest, task_connections_check, task_connections_settle
from gateway.celery import app
from tests.conftest import wait_for, worker_process
from tests.testapp.tasks import backend_record

pytestmark = pytest.mark.django_db(transaction=True)
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="server processes are PostgreSQL's")


@pytest.fixture
def opened() -> Iterator[object]:
    """The default connection, open; closed again afterwards."""
    connection.ensure_connection()
    yield connection.connection
    connection.close()


def test_celerys_own_closing_after_a_task_is_put_off(opened: object) -> None:
    fixup = DjangoWorkerFixup(app)

    fixup.close_database()
    fixup.close_database()

    assert connection.connection is opened


@on_postgresql
def test_a_connection_at_rest_outlives_a_successful_task(opened: object) -> None:
    task_connections_check(sender=backend_record)
    task_connections_settle(sender=backend_record, state=states.SUCCESS)

    assert connection.connection is opened


def test_a_failed_task_closes_the_connection(opened: object) -> None:
    task_connections_settle(sender=backend_record, state=states.FAILURE)

    assert connection.connection is None


@on_postgresql
def test_a_transaction_begun_behind_djangos_back_closes_the_connection(opened: object) -> None:
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")

    assert not connection_at_rest(connection)
    task_connections_settle(sender=backend_record, state=states.SUCCESS)
    assert connection.connection is None


def test_a_task_run_in_the_callers_process_leaves_its_connections_alone(opened: object) -> None:
    task_connections_settle(sender=None, state=states.FAILURE)
    backend_record.push_request(is_eager=True)  # type: ignore[call-arg]  # the stubs name no fields
    try:
        task_connections_settle(sender=backend_record, state=states.FAILURE)
    finally:
        backend_record.pop_request()

    assert connection.connection is opened


def test_an_atomic_block_or_autocommit_turned_off_is_not_at_rest(opened: object) -> None:
    assert connection_at_rest(connection)
    with transaction.atomic():
        assert not connection_at_rest(connection)
    connection.set_autocommit(False)
    try:
        assert not connection_at_rest(connection)
    finally:
        connection.set_autocommit(True)
    assert connection_at_rest(connection)


@on_postgresql
def test_a_query_still_running_closes_the_connection(opened: object) -> None:
    raw: Any = connection.connection
    raw.pgconn.send_query(b"SELECT pg_sleep(0.2)")  # as a time limit leaves a query it interrupted

    assert not connection_at_rest(connection)
    task_connections_settle(sender=backend_record, state=states.SUCCESS)
    assert connection.connection is None


@pytest.mark.slow
@on_postgresql
def test_a_worker_reuses_its_connection_until_a_task_fails_or_leaves_a_transaction(tmp_path: Path) -> None:
    path = tmp_path / "backends"
    path.touch()
    runs = [{}, {}, {}, {"fail": True}, {}, {"leave_open": True}, {}]

    with worker_process("maintenance") as worker:
        for number, options in enumerate(runs, start=1):
            app.send_task("maintenance.test_backend_record", args=[str(path)], kwargs=options)
            assert wait_for(functools.partial(_lines_are, path, number)), worker.log()
        assert worker.poll() is None

    backends = path.read_text().split()
    assert backends[0] == backends[1] == backends[2] == backends[3], "kept across successful tasks"
    assert backends[4] != backends[3], "a failed task's connection is not reused"
    assert backends[5] == backends[4]
    assert backends[6] != backends[5], "a connection left in a transaction is not reused"


def _lines_are(path: Path, count: int) -> bool:
    return len(path.read_text().split()) == count
