"""``field__any_of=values``: ``field IN values`` with the whole list bound as one parameter.

Django's ``__in`` binds one parameter per value. Parameters are bound on the server on PostgreSQL, which refuses
a statement of more than 65,535 of them, and SQLite refuses more than 32,766, so an ``__in`` over a list that
grows with the data (ids an admin selected, a batch size an operator raised) fails past some size. ``any_of``
sends the list as one value whatever its length: ``= ANY(%s::type[])`` with an array on PostgreSQL (the
statement's text is also the same for every length, so it is prepared once per connection), ``IN (SELECT value
FROM json_each(%s))`` with a JSON array on SQLite. Each value is prepared by the field as for ``__in``.
For a subquery, keep ``__in``.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql.compiler import SQLCompiler

from core.db import array_type


class AnyOf(models.Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[Any]:
        if hasattr(self.rhs, "resolve_expression") or isinstance(self.rhs, (str, bytes)):
            raise TypeError(f"__{self.lookup_name} takes a list of values; use __in for a subquery")
        field = self.lhs.output_field
        return [field.get_prep_value(value) for value in self.rhs]

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> Any:  # Any: one parameter is a list
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection, prepared=True) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs_sql} = ANY(%s::{array_type(field, connection)})", (*lhs_params, values)
        return f"{lhs_sql} IN (SELECT value FROM json_each(%s))", (*lhs_params, json.dumps(values))  # noqa: S608 - the column as Django compiles it


# A foreign key takes no lookup registered on Field (its own lookups compare related objects): register there too.
models.Field.register_lookup(AnyOf)
models.ForeignKey.register_lookup(AnyOf)
