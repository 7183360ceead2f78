"""Small database helpers that need to know which database they run on."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections, models

T = TypeVar("T")


def commit_without_waiting_for_disk() -> None:
    """Let the current transaction's commit return before its WAL reaches the disk (PostgreSQL only).

    Only for work that can be redone from something already durable: a crash may lose the last fraction of a
    second of such commits, never a later commit without an earlier one, so the redo marker (a delivery still
    ``received``) is lost together with the work. Call it inside ``transaction.atomic()``.
    """
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def row_insert(instance: models.Model, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Insert ``instance`` as one ``INSERT … ON CONFLICT DO NOTHING``: each field prepares its value as it does
    for ``save()`` (timestamps, sealing), but the statement is built once per model instead of compiled per row.
    Idempotent by primary key (which must be set), so it is safe to run again after an unknown outcome."""
    model = type(instance)
    if instance.pk is None:
        raise ValueError(f"{model._meta.label}: row_insert needs the primary key set before the insert")
    target = connections[using]
    fields, sql = _insert_statement(model, using)
    values = [field.get_db_prep_save(field.pre_save(instance, True), target) for field in fields]
    with target.cursor() as cursor:
        cursor.execute(sql, values)
    instance._state.adding = False
    instance._state.db = using


@functools.cache
def _insert_statement(model: type[models.Model], using: str) -> tuple[list[models.Field], str]:  # type: ignore[type-arg]
    quote = connections[using].ops.quote_name
    fields = [field for field in model._meta.local_concrete_fields if field.column]
    columns = ", ".join(quote(str(field.column)) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING"  # noqa: S608 - quoted names from the model's metadata
    return fields, sql


def write_without_health_check(write: Callable[[], T], *, using: str = DEFAULT_DB_ALIAS) -> T:
    """Run ``write`` (autocommit statements, safe to run twice) without the health check Django makes before a
    request's first query (a ``SELECT 1`` round trip, as costly as a small write). A connection that turns out
    to be dead is closed and ``write`` runs once more on a new one: the same protection, paid only on failure."""
    target: Any = connections[using]  # Any: django-stubs do not know the health-check attributes
    if target.connection is None or target.in_atomic_block or not target.health_check_enabled:
        return write()
    target.health_check_done = True
    try:
        return write()
    except (InterfaceError, OperationalError):
        if target.is_usable():
            raise
        target.close()
    return write()
