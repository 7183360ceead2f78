"""core.table_storage: the fillfactor migrations leave room on the pages of the tables rewritten in place."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.state import ProjectState

from core.table_storage import fillfactor_set

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="fillfactor is PostgreSQL's")


def _reloptions(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    assert row is not None
    return list(row[0])


@on_postgresql
@pytest.mark.parametrize(("table", "expected"), [("messaging_message", 65), ("webhooks_delivery", 90)])
def test_the_migrations_set_the_fillfactor_of_the_tables_rewritten_in_place(table: str, expected: int) -> None:
    assert f"fillfactor={expected}" in _reloptions(table)


@on_postgresql
def test_the_operation_sets_the_fillfactor_and_resets_it_when_reversed() -> None:
    operation = fillfactor_set("tests_fillfactor_probe", 60)
    state = ProjectState()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE tests_fillfactor_probe (id integer)")
    with connection.schema_editor() as editor:
        operation.database_forwards("core", editor, state, state)
    assert _reloptions("tests_fillfactor_probe") == ["fillfactor=60"]

    with connection.schema_editor() as editor:
        operation.database_backwards("core", editor, state, state)
    assert _reloptions("tests_fillfactor_probe") == []


class RecordingEditor:
    """Records what a migration operation would execute on this connection's database."""

    connection = connection

    def __init__(self) -> None:
        self.executed: list[str] = []

    def execute(self, sql: str, params: object = None) -> None:
        self.executed.append(sql)

    def quote_name(self, name: str) -> str:
        return connection.ops.quote_name(name)


def test_the_operation_alters_the_table_on_postgresql_only() -> None:
    operation = fillfactor_set("messaging_message", 65)
    recording = RecordingEditor()
    editor: Any = recording  # stands in for the schema editor: the operation uses no more than this
    apps: Any = None  # the operation reads no models

    operation.code(apps, editor)
    assert operation.reverse_code is not None
    operation.reverse_code(apps, editor)

    expected = [
        'ALTER TABLE "messaging_message" SET (fillfactor = 65)',
        'ALTER TABLE "messaging_message" RESET (fillfactor)',
    ]
    assert recording.executed == (expected if connection.vendor == "postgresql" else [])


@pytest.mark.parametrize("wrong", [9, 101])
def test_the_operation_refuses_a_fillfactor_out_of_range(wrong: int) -> None:
    with pytest.raises(ValueError, match="between 10 and 100"):
        fillfactor_set("messaging_message", wrong)
