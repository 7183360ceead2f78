"""core.db: the one-statement inserts and the write that skips the per-request health check."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DataError, IntegrityError, connection
from django.db.utils import OperationalError
from django.test.utils import CaptureQueriesContext

from accounts.models import Tenant
from core.db import (
    primary_keys_reserve,
    row_insert,
    rows_insert,
    rows_insert_keyed,
    rows_insert_numbered,
    rows_insert_with_dependents,
    write_without_health_check,
)
from encryption.blind_index import blind_index_filter
from gateway import settings as settings_module
from tests.testapp.models import Note

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


def test_rows_insert_stores_what_save_would_and_returns_the_keys_that_went_in(tenant_a: Tenant) -> None:
    notes = [
        Note(
            tenant_id=tenant_a.id,
            title=f"note {index}",
            body=f"body {index}",
            payload={"index": index} if index else None,
            phone="+14155550100" if index == 1 else None,
        )
        for index in range(3)
    ]

    inserted = rows_insert(notes)

    assert inserted == {note.pk for note in notes}
    assert [note._state.adding for note in notes] == [False] * 3
    stored = {note.pk: note for note in Note.objects.filter(pk__in=inserted)}
    for note in notes:
        row = stored[note.pk]
        assert (row.title, row.body, row.payload, row.phone) == (note.title, note.body, note.payload, note.phone)
        assert row.created_at is not None  # pre_save ran (auto_now_add)
    by_phone = blind_index_filter(Note, "phone_index", tenant_id=tenant_a.id, value="+14155550100")
    assert list(Note.objects.filter(by_phone).values_list("pk", flat=True)) == [notes[1].pk]


def test_rows_insert_skips_rows_that_conflict_and_leaves_the_existing_ones_alone() -> None:
    existing = Tenant.objects.create(name="Existing", slug="taken")
    fresh = Tenant(name="Fresh", slug="fresh")
    clash = Tenant(name="Clash", slug="taken")  # another row's unique slug
    twin = Tenant(name="Twin", slug="fresh")  # the same batch's
    again = Tenant(id=existing.pk, name="Again", slug="again")  # an existing primary key

    inserted = rows_insert([fresh, clash, twin, again])

    assert inserted == {fresh.pk}
    assert [tenant._state.adding for tenant in (fresh, clash, twin, again)] == [False, True, True, True]
    assert dict(Tenant.objects.filter(slug__in=["taken", "fresh", "again"]).values_list("slug", "name")) == {
        "taken": "Existing",
        "fresh": "Fresh",
    }
    assert rows_insert([]) == set()


def test_rows_insert_needs_every_primary_key() -> None:
    keyless = Tenant(name="No id", slug="no-id")
    keyless.id = None

    with pytest.raises(ValueError, match="primary key"):
        rows_insert([Tenant(name="With id", slug="with-id"), keyless])
    assert not Tenant.objects.filter(slug="with-id").exists()


def test_rows_insert_keyed_returns_the_unique_keys_of_the_rows_the_database_numbered() -> None:
    Group.objects.create(name="existing")
    rows = [Group(name="fresh"), Group(name="existing"), Group(name="fresh"), Group(name="other")]

    inserted = rows_insert_keyed(rows, key=("name",))

    assert inserted == {("fresh",), ("other",)}
    assert sorted(Group.objects.values_list("name", flat=True)) == ["existing", "fresh", "other"]
    assert rows_insert_keyed(rows[:1], key=("name",)) == set()  # a redelivery: nothing new
    assert rows_insert_keyed([], key=("name",)) == set()


def test_rows_insert_keyed_takes_a_relation_by_its_name_or_its_column() -> None:
    kind = ContentType.objects.get_for_model(Group)
    first = Permission(content_type=kind, codename="first_keyed", name="First")
    second = Permission(content_type=kind, codename="second_keyed", name="Second")

    assert rows_insert_keyed([first], key=("content_type", "codename")) == {(kind.pk, "first_keyed")}
    assert rows_insert_keyed([second], key=("content_type_id", "codename")) == {(kind.pk, "second_keyed")}


def test_rows_insert_numbered_gives_each_row_the_key_the_database_assigned() -> None:
    rows = [Group(name="numbered_first"), Group(name="numbered_second"), Group(name="numbered_third")]

    rows_insert_numbered(rows)

    stored = dict(Group.objects.filter(name__startswith="numbered_").values_list("name", "pk"))
    assert [row.pk for row in rows] == [stored[row.name] for row in rows]
    assert [row._state.adding for row in rows] == [False, False, False]
    with pytest.raises(IntegrityError):  # a conflict is an error, as with bulk_create
        rows_insert_numbered([Group(name="numbered_first")])
    with pytest.raises(ValueError, match="the database numbers"):
        rows_insert_numbered([Group(pk=rows[0].pk, name="numbered_again")])


def test_rows_insert_keyed_is_only_for_rows_the_database_numbers() -> None:
    with pytest.raises(ValueError, match="primary key the database assigns"):
        rows_insert_keyed([Group(pk=7, name="numbered")], key=("name",))
    with pytest.raises(ValueError, match="primary key the database assigns"):
        rows_insert_keyed([Tenant(name="Uuid", slug="uuid")], key=("slug",))
    assert not Group.objects.filter(name="numbered").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the array insert is PostgreSQL's")
def test_rows_insert_is_one_statement_whatever_the_row_count_and_lengths_are_still_checked() -> None:
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        rows_insert([Tenant(name=f"Two {index}", slug=f"two-{index}") for index in range(2)])
        rows_insert([Tenant(name=f"Seven {index}", slug=f"seven-{index}") for index in range(7)])

    assert len(statements) == 2
    assert statements[0] == statements[1]  # one text: parsed once, prepared per connection
    assert Tenant.objects.filter(slug__regex=r"^(two|seven)-").count() == 9
    with pytest.raises(DataError):  # the arrays carry no length: the column refuses, never truncates
        rows_insert([Tenant(name="x" * 201, slug="too-long")])


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


def test_rows_insert_with_dependents_inserts_both_and_returns_the_keys_that_went_in() -> None:
    kind = ContentType(pk=900_001, app_label="ingest", model="parent")
    permissions = [
        Permission(pk=900_001 + index, content_type=kind, codename=f"c{index}", name="n") for index in (0, 1)
    ]

    with CaptureQueriesContext(connection) as queries:
        inserted = rows_insert_with_dependents([kind], permissions)

    assert inserted == ({900_001}, {900_001, 900_002})
    assert len(queries) == (1 if connection.vendor == "postgresql" else 6)  # elsewhere a rows_insert each
    assert [row._state.adding for row in (kind, *permissions)] == [False] * 3
    assert set(Permission.objects.filter(content_type_id=900_001).values_list("codename", flat=True)) == {"c0", "c1"}


def test_rows_insert_with_dependents_skips_rows_that_conflict() -> None:
    kind = ContentType.objects.create(pk=900_001, app_label="ingest", model="parent")
    Permission.objects.create(pk=900_001, content_type=kind, codename="kept", name="n")
    again = Permission(pk=900_001, content_type=kind, codename="other", name="n")
    fresh = Permission(pk=900_002, content_type=kind, codename="fresh", name="n")

    inserted = rows_insert_with_dependents([ContentType(pk=900_001, app_label="x", model="y")], [again, fresh])

    assert inserted == (set(), {900_002})
    assert (again._state.adding, fresh._state.adding) == (True, False)
    assert Permission.objects.get(pk=900_001).codename == "kept"
    assert ContentType.objects.get(pk=900_001).app_label == "ingest"


def test_primary_keys_reserve_takes_distinct_values_from_the_sequence_on_postgresql() -> None:
    reserved = primary_keys_reserve(Group, 3)

    if connection.vendor != "postgresql":
        assert reserved is None
        return
    assert reserved is not None and len(set(reserved)) == 3
    assert Group.objects.create(name="after").pk > max(reserved)  # the sequence moved past them
