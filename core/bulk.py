"""One ``UPDATE … CASE`` for many rows: each row with its own new values and conditions, plus values for all.

The ORM can express this with ``Case(When(...))``, but compiling a few dozen ``When`` clauses costs more
than the statement itself; this builds the same SQL directly, with every value passed as a parameter.
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
    # Names come from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {pk_column} IN ({', '.join(['%s'] * len(keys))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *keys])
        return int(cursor.rowcount)


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
