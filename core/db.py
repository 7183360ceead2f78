"""Small database helpers that need to know which database they run on."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

T = TypeVar("T")

# Parameters are bound on the server on PostgreSQL, which refuses a statement with more than this many; Django
# splits a ``bulk_create`` for SQLite's own limit, not for this one (pass ``batch_size=rows_per_insert(model)``).
MAX_BOUND_PARAMETERS = 65_535


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


def rows_insert(instances: Sequence[models.Model], *, using: str = DEFAULT_DB_ALIAS) -> set[Any]:
    """Insert many rows of one model, skipping each that conflicts with a row already there; returns the
    primary keys of those that went in (which must be set beforehand, as with ``row_insert``).

    Fields prepare their values as for ``save()``. On PostgreSQL the rows travel as one array per column
    (``INSERT … SELECT * FROM unnest(…) ON CONFLICT DO NOTHING RETURNING pk``): the statement's text is the
    same whatever the row count, so it is parsed once and prepared per connection, where a multi-row
    ``VALUES`` list is a new statement of hundreds of parameters each time. Elsewhere it is
    ``bulk_create(ignore_conflicts=True)`` between two queries for which keys exist.
    """
    if not instances:
        return set()
    model = type(instances[0])
    if any(instance.pk is None for instance in instances):
        raise ValueError(f"{model._meta.label}: rows_insert needs every primary key set before the insert")
    target = connections[using]
    if target.vendor == "postgresql":
        inserted = {row[0] for row in _rows_insert_unnest(model, instances, using, returning=())}
    else:
        rows = model._default_manager.using(using)
        keys = [instance.pk for instance in instances]
        there = set(rows.filter(pk__any_of=keys).values_list("pk", flat=True))
        rows.bulk_create(instances, ignore_conflicts=True)
        inserted = set(rows.filter(pk__any_of=keys).values_list("pk", flat=True)) - there
    for instance in instances:  # a skipped row is still one to add, as before the call
        went_in = instance.pk in inserted
        instance._state.adding = not went_in
        instance._state.db = using if went_in else None
    return inserted


def rows_insert_keyed(
    instances: Sequence[models.Model], *, key: tuple[str, ...], using: str = DEFAULT_DB_ALIAS
) -> set[tuple[Any, ...]]:
    """Insert rows of a model whose primary key the database assigns, skipping each that conflicts, in one
    statement as ``rows_insert`` does; returns the ``key`` (the fields of one of its unique constraints, in the
    order given) of each row that went in, as the database returns them. The rows must not have a primary key
    yet, and keep none afterwards (nor do they learn they are stored). On SQLite, a key with a NULL in it is never
    reported."""
    if not instances:
        return set()
    model = type(instances[0])
    if model._meta.auto_field is None or any(instance.pk is not None for instance in instances):
        raise ValueError(f"{model._meta.label}: rows_insert_keyed is for rows whose primary key the database assigns")
    key = _attnames(model, key)  # "message" and "message_id" alike
    if connections[using].vendor == "postgresql":
        return set(_rows_insert_unnest(model, instances, using, returning=key))
    rows = model._default_manager.using(using)
    wanted = {tuple(getattr(instance, name) for name in key) for instance in instances}
    there = _keys_present(rows, key, wanted)
    rows.bulk_create(instances, ignore_conflicts=True)
    return _keys_present(rows, key, wanted) - there


def rows_insert_numbered(instances: Sequence[models.Model], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Insert rows whose primary key the database assigns and give each its key, in one statement of no
    transaction of its own: in autocommit it is committed at once (``bulk_create`` wraps its INSERT in BEGIN and
    COMMIT, two more round trips, where a ledger row written before an external call pays them on every call).
    A conflict raises, as with ``bulk_create``. On PostgreSQL the rows travel as arrays (``rows_insert``), the
    keys coming back in the order of the rows; elsewhere it is ``bulk_create``."""
    if not instances:
        return
    model = type(instances[0])
    if model._meta.auto_field is None or any(instance.pk is not None for instance in instances):
        raise ValueError(f"{model._meta.label}: rows_insert_numbered is for rows the database numbers")
    if connections[using].vendor != "postgresql":
        model._default_manager.using(using).bulk_create(instances)
        return
    pk_name = model._meta.auto_field.attname
    keys = _rows_insert_unnest(model, instances, using, returning=(pk_name,), skip_conflicts=False)
    for instance, (key,) in zip(instances, keys, strict=True):
        setattr(instance, pk_name, key)
        instance._state.adding = False
        instance._state.db = using


def _attnames(model: type[models.Model], names: tuple[str, ...]) -> tuple[str, ...]:
    fields = [model._meta.get_field(name) for name in names]
    concrete = [field for field in fields if isinstance(field, models.Field) and field.concrete]
    if len(concrete) != len(fields):
        raise ValueError(f"{model._meta.label}: a key is made of concrete fields, not {names}")
    return tuple(field.attname for field in concrete)


def _keys_present(
    rows: models.QuerySet[Any], key: tuple[str, ...], wanted: set[tuple[Any, ...]]
) -> set[tuple[Any, ...]]:
    first_values = {values[0] for values in wanted}
    present = rows.filter(**{f"{key[0]}__any_of": list(first_values)}).values_list(*key)
    return {tuple(values) for values in present} & wanted


def rows_insert_with_dependents(
    parents: Sequence[models.Model], dependents: Sequence[models.Model], *, using: str = DEFAULT_DB_ALIAS
) -> tuple[set[Any], set[Any]]:
    """Insert ``parents``, then ``dependents`` (rows of another model that refer to them), each skipping the rows
    that conflict as ``rows_insert`` does; returns the primary keys of the parents and of the dependents that
    went in.

    On PostgreSQL both go in one statement, each insert a data-modifying CTE (run to completion whether or not
    the rest reads it): one round trip and one prepared statement instead of two. Django's foreign keys are
    deferred, checked at commit, when both are there."""
    if not parents or not dependents or connections[using].vendor != "postgresql":
        return rows_insert(parents, using=using), rows_insert(dependents, using=using)
    if any(instance.pk is None for instances in (parents, dependents) for instance in instances):
        raise ValueError("rows_insert_with_dependents needs every primary key set before the insert")
    parent_fields, dependent_fields, sql = _dependents_insert_statement(type(parents[0]), type(dependents[0]), using)
    values = _unnest_columns(parents, parent_fields, using) + _unnest_columns(dependents, dependent_fields, using)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, values)
        parent_keys, dependent_keys = cursor.fetchone() or (None, None)
    inserted = (set(parent_keys or ()), set(dependent_keys or ()))
    for instances, went_in in zip((parents, dependents), inserted, strict=True):
        for instance in instances:  # as rows_insert leaves them
            instance._state.adding = instance.pk not in went_in
            instance._state.db = None if instance._state.adding else using
    return inserted


@functools.cache
def _dependents_insert_statement(
    parent: type[models.Model], dependent: type[models.Model], using: str
) -> tuple[list[models.Field], list[models.Field], str]:  # type: ignore[type-arg]
    parent_fields, parent_sql = _unnest_insert_statement(parent, using, (), skip_conflicts=True)
    dependent_fields, dependent_sql = _unnest_insert_statement(dependent, using, (), skip_conflicts=True)
    quote = connections[using].ops.quote_name
    parent_key, dependent_key = (quote(str(model._meta.pk.column)) for model in (parent, dependent))
    sql = (
        f"WITH parents AS ({parent_sql}), dependents AS ({dependent_sql}) "  # noqa: S608 - quoted names from the models' metadata
        f"SELECT (SELECT array_agg({parent_key}) FROM parents), (SELECT array_agg({dependent_key}) FROM dependents)"
    )
    return parent_fields, dependent_fields, sql


def _rows_insert_unnest(
    model: type[models.Model],
    instances: Sequence[models.Model],
    using: str,
    *,
    returning: tuple[str, ...],
    skip_conflicts: bool = True,
) -> list[tuple[Any, ...]]:
    """The rows returned (``returning``'s fields, the primary key when empty) are those that went in."""
    fields, sql = _unnest_insert_statement(model, using, returning, skip_conflicts)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, _unnest_columns(instances, fields, using))
        return [tuple(row) for row in cursor.fetchall()]


def _unnest_columns(
    instances: Sequence[models.Model],
    fields: Sequence[models.Field],  # type: ignore[type-arg]
    using: str,
) -> list[list[Any]]:
    """One list per field of the rows' values, prepared as for ``save()``: the arrays an unnest insert takes."""
    target = connections[using]
    columns: list[list[Any]] = [[] for _ in fields]
    for instance in instances:
        instance._prepare_related_fields_for_save(operation_name="rows_insert")  # type: ignore[attr-defined]
        for values, field in zip(columns, fields, strict=True):
            values.append(field.get_db_prep_save(field.pre_save(instance, True), target))
    return columns


@functools.cache
def _unnest_insert_statement(
    model: type[models.Model], using: str, returning: tuple[str, ...], skip_conflicts: bool
) -> tuple[list[models.Field], str]:  # type: ignore[type-arg]
    """Every concrete column (but a primary key the database assigns, when ``returning`` names other fields or
    that key alone)."""
    target = connections[using]
    quote = target.ops.quote_name
    assigned = model._meta.auto_field if returning else None
    fields = [field for field in model._meta.local_concrete_fields if field.column and field is not assigned]
    columns = ", ".join(quote(str(field.column)) for field in fields)
    # Arrays of each column's type without its length or precision (the column itself still checks them), sent
    # in binary (%b): psycopg writes a text array element by element in Python, three times slower.
    arrays = ", ".join(f"%b::{array_type(field, target)}" for field in fields)
    returned = [model._meta.get_field(name) for name in returning] if returning else [model._meta.pk]
    returned_columns = ", ".join(quote(str(getattr(field, "column", ""))) for field in returned)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT * FROM unnest({arrays}) "  # noqa: S608 - quoted names from the model's metadata
        f"{'ON CONFLICT DO NOTHING ' if skip_conflicts else ''}RETURNING {returned_columns}"
    )
    return fields, sql


def primary_keys_reserve(model: type[models.Model], count: int, *, using: str = DEFAULT_DB_ALIAS) -> list[int] | None:
    """``count`` values of the sequence behind ``model``'s automatic primary key, taken now in one query
    (PostgreSQL), for rows that need their id before their insert (a value sealed under it): the rows then go in
    with one ``INSERT`` and no ``UPDATE`` after it. None on a database without such sequences. A value taken and
    never used is a gap, as after a rolled-back insert."""
    target = connections[using]
    if target.vendor != "postgresql" or count < 1:
        return None
    column = str(model._meta.pk.column)
    with target.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [target.ops.quote_name(model._meta.db_table), column, count],
        )
        return [int(value) for (value,) in cursor.fetchall()]


def rows_per_insert(model: type[models.Model]) -> int:
    """How many rows of ``model`` one multi-row ``INSERT`` (``bulk_create``) can carry within the parameter limit."""
    return MAX_BOUND_PARAMETERS // len(model._meta.concrete_fields)


def array_type(field: models.Field[Any, Any], target: BaseDatabaseWrapper) -> str:
    """A PostgreSQL array of the column's type without its length or precision (``varchar(64)`` → ``varchar[]``):
    the column itself still checks them."""
    return re.sub(r"[(].*?[)]", "", str(field.db_type(target))) + "[]"


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
