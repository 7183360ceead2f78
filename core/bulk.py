"""One ``UPDATE … CASE`` for many rows: each row with its own new values and conditions, plus values for all.

The ORM can express this with ``Case(When(...))``, but compiling a few dozen ``When`` clauses costs more
than the statement itself; this builds the same SQL directly, with every value passed as a parameter.
``rows_update_where`` adds a condition each row must meet (a fencing token) and returns the rows it updated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper


@dataclass(frozen=True, slots=True)
class ColumnChange:
    """A new value for one column: ``expression`` is SQL with ``{column}`` for the column's value as it is then
    and ``%s`` for each of ``values``. ``guard`` (SQL of the same form, with ``guard_values``), if given, is a
    condition on the row as it is then: where it fails, the column keeps its value.
    Every value is of the column's own type, prepared by its field as the ORM would (sealed values stay sealed).
    """

    expression: str
    values: Sequence[object] = ()
    guard: str = ""
    guard_values: Sequence[object] = ()

    @classmethod
    def to(cls, value: object, *, guard: str = "", guard_values: Sequence[object] = ()) -> ColumnChange:
        """The column set to ``value`` (where ``guard`` holds)."""
        return cls("%s", (value,), guard, guard_values)


def rows_update(
    model: type[models.Model],
    changes: Mapping[Any, Mapping[str, ColumnChange]],
    *,
    same: Mapping[str, ColumnChange] | None = None,
) -> int:
    """Many rows in one statement (their primary keys are the keys of ``changes``): each row's own changes
    (field name → change, ``CASE WHEN pk = … THEN …``; a column a row does not change keeps its value) and the
    ``same`` changes on every row. Returns rows matched."""
    if not changes:
        return 0
    sql, params = _update_sql(model, changes, same, RowCondition())
    connection = connections[router.db_for_write(model)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


@dataclass(frozen=True, slots=True)
class RowCondition:
    """A condition every row must meet to be updated: SQL on the row as it is (columns named with
    ``quoted_column``), ``%s`` for each of ``values``, each already prepared for the database by its field
    (``get_db_prep_value``)."""

    sql: str = ""
    values: Sequence[object] = ()


def rows_update_where(
    model: type[models.Model],
    changes: Mapping[Any, Mapping[str, ColumnChange]],
    *,
    where: RowCondition,
    same: Mapping[str, ColumnChange] | None = None,
) -> set[Any]:
    """``rows_update`` for the rows that also meet ``where`` (a fencing token, a status), in one statement;
    returns the primary keys of the rows updated."""
    if not changes:
        return set()
    sql, params = _update_sql(model, changes, same, where)
    connection = connections[router.db_for_write(model)]
    pk_field = _concrete(model, model._meta.pk.name if model._meta.pk else "pk")
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {connection.ops.quote_name(_column(pk_field))}", params)
        return {pk_field.to_python(row[0]) for row in cursor.fetchall()}


def _update_sql(
    model: type[models.Model],
    changes: Mapping[Any, Mapping[str, ColumnChange]],
    same: Mapping[str, ColumnChange] | None,
    where: RowCondition,
) -> tuple[str, list[Any]]:
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    pk_field = _concrete(model, model._meta.pk.name if model._meta.pk else "pk")
    pk_column = quote(_column(pk_field))
    assignments, params = _per_row(model, changes, pk_field, connection)
    for name, change in (same or {}).items():
        field = _concrete(model, name)
        column = quote(_column(field))
        value = change.expression.format(column=column)
        if change.guard:
            value = f"CASE WHEN ({change.guard.format(column=column)}) THEN {value} ELSE {column} END"
        assignments.append(f"{column} = {value}")
        params += _prepared(field, change, connection)
    if not assignments:
        raise ValueError("nothing to update")
    keys = [pk_field.get_db_prep_value(pk, connection) for pk in changes]
    condition = f" AND ({where.sql})" if where.sql else ""
    # Names come from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {pk_column} IN ({', '.join(['%s'] * len(keys))}){condition}"
    )
    return sql, [*params, *keys, *where.values]


def _per_row(
    model: type[models.Model],
    changes: Mapping[Any, Mapping[str, ColumnChange]],
    pk_field: models.Field[Any, Any],
    connection: BaseDatabaseWrapper,
) -> tuple[list[str], list[Any]]:
    """One ``column = CASE WHEN pk = … END`` per column some row changes, and its parameters."""
    quote = connection.ops.quote_name
    pk_column = quote(_column(pk_field))
    assignments: list[str] = []
    params: list[Any] = []
    for name in sorted({name for row in changes.values() for name in row}):
        field = _concrete(model, name)
        column = quote(_column(field))
        clauses: list[str] = []
        for pk, row in changes.items():
            if name in row:
                clauses.append(f"WHEN {pk_column} = %s{_when(row[name], column)}")
                params.append(pk_field.get_db_prep_value(pk, connection))
                params += _prepared(field, row[name], connection)
        assignments.append(f"{column} = CASE {' '.join(clauses)} ELSE {column} END")
    return assignments, params


def _when(change: ColumnChange, column: str) -> str:
    """The rest of a ``WHEN`` clause: `` AND (guard)`` if any, then ``THEN expression``."""
    guard = f" AND ({change.guard.format(column=column)})" if change.guard else ""
    return f"{guard} THEN {change.expression.format(column=column)}"


def _prepared(field: models.Field[Any, Any], change: ColumnChange, connection: BaseDatabaseWrapper) -> list[Any]:
    """The change's parameters in the order its SQL holds them: the guard's, then the expression's."""
    return [field.get_db_prep_save(value, connection) for value in (*change.guard_values, *change.values)]


def quoted_column(model: type[models.Model], name: str, connection: BaseDatabaseWrapper) -> str:
    """The quoted column of the model's field ``name`` (for SQL built by hand, as here)."""
    return str(connection.ops.quote_name(_column(_concrete(model, name))))


def _concrete(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{model._meta.label}.{name} is not a concrete column")
    return field


def _column(field: models.Field[Any, Any]) -> str:
    if not field.column:
        raise TypeError(f"{field} is not a concrete column")
    return field.column
