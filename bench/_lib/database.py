"""The database a run uses: how it is described, and PostgreSQL housekeeping done between measured phases."""

from __future__ import annotations


def describe_database(*, address: bool = False) -> str:
    """The vendor, version and throwaway database; with ``address``, where PostgreSQL listens."""
    from django.db import connection

    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            row = cursor.fetchone()
        version = row[0] if row else "?"
        where = f" at {settings_dict.get('HOST') or 'local socket'}:{settings_dict.get('PORT') or 5432}"
        return f"PostgreSQL {version}{where if address else ''}, throwaway database {settings_dict['NAME']}"
    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}, throwaway file {settings_dict['NAME']}"
    return f"{connection.vendor}, throwaway database {settings_dict['NAME']}"


def vacuum_analyze(*tables: str) -> None:
    """Vacuum and analyze ``tables`` now, rather than leave it to autovacuum inside the next phase's measurement."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")


def checkpoint() -> bool:
    """Make a checkpoint now (False when the role may not): a phase that follows one that wrote a lot of WAL then
    starts clean, instead of paying for the checkpoint its predecessor made due. Needs superuser or pg_checkpoint."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        return False
    return True
