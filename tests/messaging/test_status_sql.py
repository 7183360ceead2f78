"""The status engine's SQL runs on both databases the gateway supports: CI runs on PostgreSQL, and ``make run``
on SQLite, which has no ``LEAST`` (and whose ``MIN()`` of a NULL is NULL)."""

from __future__ import annotations

import sqlite3

from messaging.inbound.statuses import EARLIEST


def test_the_earliest_moment_expression_keeps_the_earlier_time_and_fills_an_empty_one_on_sqlite() -> None:
    database = sqlite3.connect(":memory:")
    database.execute("CREATE TABLE moments (id INTEGER PRIMARY KEY, at TEXT)")
    database.executemany(
        "INSERT INTO moments VALUES (?, ?)", [(1, None), (2, "2026-01-02 00:00:00"), (3, "2026-01-01 00:00:00")]
    )
    moment = "2026-01-01 12:00:00"

    database.execute(f"UPDATE moments SET at = {EARLIEST.format(column='at').replace('%s', '?')}", [moment, moment])  # noqa: S608 - a constant of the code

    assert [row[0] for row in database.execute("SELECT at FROM moments ORDER BY id")] == [
        moment,
        moment,
        "2026-01-01 00:00:00",
    ]
