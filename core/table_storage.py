"""Storage parameters of tables whose rows are rewritten in place (PostgreSQL only), set by migrations.

PostgreSQL writes a row's new version on the row's own page when the page has room; otherwise wherever the free
space map finds room, a little on each of many pages, and after each checkpoint every page first touched takes
a full-page image in the WAL. A fillfactor below 100 keeps that room on every page filled by inserts, so the
updates that follow (a status, a delivery processed, content blanked by the purge) stay on the page they read.
``ALTER TABLE … SET (fillfactor)`` does not rewrite the table: pages written from then on keep the room.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

FILLFACTOR_RANGE = range(10, 101)  # what PostgreSQL accepts for a table, in percent


def fillfactor_set(table: str, percent: int) -> migrations.RunPython:
    """A reversible migration operation: ``table``'s fillfactor to ``percent`` on PostgreSQL, back to the
    default (100) when reversed; nothing on other databases (SQLite has no such setting)."""
    if percent not in FILLFACTOR_RANGE:
        raise ValueError(f"fillfactor must be between 10 and 100, got {percent}")

    def forward(apps: Any, schema_editor: Any) -> None:
        _alter(schema_editor, f"ALTER TABLE {schema_editor.quote_name(table)} SET (fillfactor = {percent:d})")

    def backward(apps: Any, schema_editor: Any) -> None:
        _alter(schema_editor, f"ALTER TABLE {schema_editor.quote_name(table)} RESET (fillfactor)")

    return migrations.RunPython(forward, backward, elidable=False)


def _alter(schema_editor: Any, statement: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(statement, params=None)
