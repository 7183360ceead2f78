"""Small database helpers that need to know which database they run on."""

from __future__ import annotations

from django.db import connection


def commit_without_waiting_for_disk() -> None:
    """Let the current transaction's commit return before its WAL reaches the disk (PostgreSQL only).

    Only for work that can be redone from something already durable: a crash may lose the last fraction of a
    second of such commits, never a later commit without an earlier one, so the redo marker (a delivery still
    ``received``) is lost together with the work. Call it inside ``transaction.atomic()``.
    """
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
