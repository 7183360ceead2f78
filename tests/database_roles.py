"""The application's database role for tests: ``app_role`` runs one test's connection as it (``SET ROLE``), so
row-level security binds it as it binds production. The suite itself runs as a superuser, which bypasses RLS."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from psycopg.pq import TransactionStatus

from core.tenancy import all_tenants, rls_role_changed

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row-level security and database roles are PostgreSQL's; the embedded SQLite default has neither",
)


@pytest.fixture(scope="session")
def database_roles(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> None:
    """The roles, policies and privileges, as ``manage.py db_roles`` makes them, on the test database."""
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        call_command("db_roles", stdout=io.StringIO())


@pytest.fixture
def app_role(db: None, database_roles: None) -> Iterator[str]:
    """The test's connection runs as the application role. Code of the test itself outside a request acts as an
    operator job (every tenant), so fixtures can seed both tenants; each request starts with no tenant and is
    narrowed to its principal, as in production. A test wanting no scope, or one tenant, says so."""
    role = settings.GATEWAY_DB_APP_ROLE
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {connection.ops.quote_name(role)}")
    rls_role_changed(connection)
    try:
        with all_tenants():
            yield role
    finally:
        raw = connection.connection
        if raw is not None and raw.info.transaction_status != TransactionStatus.INERROR:
            with raw.cursor() as cursor:
                cursor.execute("RESET ROLE")
        rls_role_changed(connection)  # a failed transaction's rollback resets the role on its own
