"""One ``UPDATE … CASE`` for many rows, each with its own new value and its own condition.

The ORM can express this with ``Case(When(...))``, but compiling a few dozen ``When`` clauses costs more
than the statement itself; this builds the same SQL directly, with every value passed as a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, router


@dataclass(frozen=True, slots=True)
class GuardedChange:
    """Set the column to ``value`` on row ``pk`` only where ``guard`` holds on the row as it is then.

    ``guard`` is SQL with ``{column}`` for the column and ``%s`` for each of ``guard_values`` (values of the
    column's own type, prepared the same way as ``value``).
    """

    pk: object
    value: object
    guard: str
    guard_values: Sequence[object] = ()


def guarded_update(model: type[models.Model], field_name: str, changes: Sequence[GuardedChange]) -> int:
    """Apply every change in one statement; a row whose guard fails keeps its value. Returns rows matched."""
    if not changes:
        return 0
    connection = connections[router.db_for_write(model)]
    field = model._meta.get_field(field_name)
    pk_field = model._meta.pk
    if not isinstance(field, models.Field) or pk_field is None or not field.column or not pk_field.column:
        raise TypeError(f"{model._meta.label}.{field_name} is not a concrete column")
    quote = connection.ops.quote_name
    column = quote(field.column)
    pk_column = quote(pk_field.column)
    clauses: list[str] = []
    params: list[Any] = []
    for change in changes:
        clauses.append(f"WHEN {pk_column} = %s AND ({change.guard.format(column=column)}) THEN %s")
        params.append(pk_field.get_db_prep_value(change.pk, connection))
        params.extend(field.get_db_prep_value(value, connection) for value in change.guard_values)
        params.append(field.get_db_prep_value(change.value, connection))
    keys = [pk_field.get_db_prep_value(change.pk, connection) for change in changes]
    # Names come from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {column} = CASE {' '.join(clauses)} ELSE {column} END "  # noqa: S608
        f"WHERE {pk_column} IN ({', '.join(['%s'] * len(keys))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *keys])
        return int(cursor.rowcount)


@dataclass(frozen=True, slots=True)
class ColumnChange:
    """A new value for one column of one row: ``expression`` is SQL with ``{column}`` for the column's value as
    it is then and ``%s`` for each of ``values`` (values of the column's own type, prepared like it)."""

    expression: str
    values: Sequence[object] = ()


def rows_update(model: type[models.Model], changes: Mapping[Any, Mapping[str, ColumnChange]]) -> int:
    """Several columns of many rows in one statement, each row with its own changes (primary key → field name →
    change); a column a row does not change keeps its value. Returns rows matched."""
    if not changes:
        return 0
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    pk_field, pk_name = _concrete(model, model._meta.pk.name if model._meta.pk else "pk")
    pk_column = quote(pk_name)
    assignments: list[str] = []
    params: list[Any] = []
    for name in sorted({name for row in changes.values() for name in row}):
        field, column_name = _concrete(model, name)
        column = quote(column_name)
        clauses: list[str] = []
        for pk, row in changes.items():
            if name in row:
                clauses.append(f"WHEN {pk_column} = %s THEN {row[name].expression.format(column=column)}")
                params.append(pk_field.get_db_prep_value(pk, connection))
                params.extend(field.get_db_prep_value(value, connection) for value in row[name].values)
        assignments.append(f"{column} = CASE {' '.join(clauses)} ELSE {column} END")
    keys = [pk_field.get_db_prep_value(pk, connection) for pk in changes]
    # Names come from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {pk_column} IN ({', '.join(['%s'] * len(keys))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *keys])
        return int(cursor.rowcount)


def _concrete(model: type[models.Model], name: str) -> tuple[models.Field[Any, Any], str]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{model._meta.label}.{name} is not a concrete column")
    return field, field.column
