"""Where a piece of text is stored in the test database: every column of every table, and every session's
decoded data (the session backend stores it signed and base64-encoded, which a plain search would miss)."""

from __future__ import annotations

from django.db import connection

from accounts.models import UserSession


def _holds(value: object, text: str) -> bool:
    if isinstance(value, memoryview | bytes | bytearray):
        return text.encode() in bytes(value)
    return value is not None and text in str(value)


def tables_holding(text: str) -> list[str]:
    """``table.column`` for each stored value containing ``text``, plus ``session data`` if a session does."""
    found: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from the catalog
            columns = [column[0] for column in cursor.description]
            found += [
                f"{table}.{name}"
                for row in cursor.fetchall()
                for name, value in zip(columns, row, strict=True)
                if _holds(value, text)
            ]
    if any(text in repr(session.get_decoded()) for session in UserSession.objects.all()):
        found.append("session data")
    return sorted(set(found))
