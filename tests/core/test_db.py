"""core.db: the one-statement insert and the write that skips the per-request health check."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection
from django.db.utils import OperationalError
from django.test.utils import CaptureQueriesContext

from accounts.models import Tenant
from core.db import row_insert, write_without_health_check
from gateway import settings as settings_module

pytestmark = pytest.mark.django_db


def test_row_insert_stores_what_save_would_and_is_idempotent_by_primary_key() -> None:
    tenant = Tenant(id=uuid.uuid4(), name="Inserted", slug="inserted")

    row_insert(tenant)
    row_insert(tenant)  # a retry after an unknown outcome: nothing more

    stored = Tenant.objects.get(pk=tenant.pk)
    assert (stored.name, stored.slug, Tenant.objects.filter(slug="inserted").count()) == ("Inserted", "inserted", 1)
    assert stored.created_at is not None  # pre_save ran (auto_now_add)
    assert not tenant._state.adding


def test_row_insert_needs_the_primary_key() -> None:
    tenant = Tenant(name="No id", slug="no-id")
    tenant.id = None

    with pytest.raises(ValueError, match="primary key"):
        row_insert(tenant)


@pytest.mark.django_db(transaction=True)  # autocommit, as in a request: no test transaction around the write
@pytest.mark.skipif(connection.vendor != "postgresql", reason="health checks apply to PostgreSQL connections")
def test_a_dead_connection_is_replaced_and_the_write_made_once_more() -> None:
    connection.ensure_connection()
    connection.health_check_enabled = True  # type: ignore[attr-defined]
    calls: list[int] = []

    def write() -> int:
        calls.append(1)
        if len(calls) == 1:
            connection.connection.close()  # the server went away under a persistent connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return int(cursor.fetchone()[0])

    assert write_without_health_check(write) == 1
    assert len(calls) == 2
    assert connection.is_usable()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="health checks apply to PostgreSQL connections")
def test_an_error_on_a_live_connection_is_raised_not_retried() -> None:
    connection.ensure_connection()
    connection.health_check_enabled = True  # type: ignore[attr-defined]
    calls: list[int] = []

    def write() -> None:
        calls.append(1)
        raise OperationalError("lock timeout")

    with pytest.raises(OperationalError, match="lock timeout"):
        write_without_health_check(write)
    assert len(calls) == 1


def test_row_insert_errors_are_the_frameworks_own() -> None:
    tenant = Tenant(id=uuid.uuid4(), name="No slug", slug="no-slug")
    tenant.slug = None  # type: ignore[assignment]

    with pytest.raises(IntegrityError):  # not the driver's class: callers catch Django's
        row_insert(tenant)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_row_insert_is_logged_and_prepared_after_five_runs() -> None:
    tenants = [Tenant(id=uuid.uuid4(), name=f"Prepared {index}", slug=f"prepared-{index}") for index in range(6)]

    with CaptureQueriesContext(connection) as captured:
        for tenant in tenants:
            row_insert(tenant)

    assert [query["sql"].startswith('INSERT INTO "accounts_tenant"') for query in captured] == [True] * 6
    assert Tenant.objects.filter(slug__startswith="prepared-").count() == 6
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO \"accounts_tenant\"%%'"
        )
        assert cursor.fetchone()[0] == 1


@pytest.mark.parametrize(("value", "threshold"), [("", 5), ("1", 5), ("0", None)])
def test_parameters_are_bound_on_the_server_and_preparing_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, value: str, threshold: int | None
) -> None:
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", value)
    if not value:
        monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS")

    config = settings_module._database("postgres://gateway@db.internal:5432/gateway?sslmode=verify-full")

    assert config["OPTIONS"] == {"sslmode": "verify-full", "server_side_binding": True, "prepare_threshold": threshold}
