"""Test helpers that touch the event table behind the application's back."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection, models, transaction

from audit.models import AuditEvent

EVENT_TABLE = AuditEvent._meta.db_table


def uses_postgresql() -> bool:
    return connection.vendor == "postgresql"


def postgresql_only(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not uses_postgresql(), reason=reason)


def tamper(sql: str, params: list[Any]) -> None:
    """Run ``sql`` on the event table past the append-only trigger, as the table's owner could."""
    with transaction.atomic(), connection.cursor() as cursor:
        if uses_postgresql():
            cursor.execute(f"ALTER TABLE {EVENT_TABLE} DISABLE TRIGGER USER")
        cursor.execute(sql, [_database_value(value) for value in params])
        if uses_postgresql():
            cursor.execute(f"ALTER TABLE {EVENT_TABLE} ENABLE TRIGGER USER")


def _database_value(value: Any) -> Any:
    """UUIDs as the backend stores them (SQLite keeps 32 hex digits)."""
    if isinstance(value, uuid.UUID):
        return models.UUIDField().get_db_prep_value(value, connection)
    return value
