"""PostgreSQL row-level security and database roles: the SQL, built from the models (docs/isolation.md).

Every table with a ``tenant_id`` column, and the tenants table itself (its ``id``), gets ``ENABLE`` and ``FORCE
ROW LEVEL SECURITY`` and one policy: a row is visible and writable only when its tenant is in the connection's
``gateway.tenants`` setting (core/tenancy.py), or the setting is ``*``. Tables are found from the models, so a
new tenant table is covered by the next ``migrate``. Rows whose tenant is NULL (the operator's) need ``*``.

The application role owns nothing, is neither superuser nor BYPASSRLS, and may only read and append to the
append-only tables; the operator role may also delete from them (pruning). Neither may TRUNCATE anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.apps import apps
from django.db.backends.base.base import BaseDatabaseWrapper

from core.tenancy import SCOPE_SETTING

POLICY_NAME = "gateway_tenant_scope"
TENANT_COLUMN = "tenant_id"
READ_WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")
MIGRATIONS_TABLE = "django_migrations"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# The scope's tenant ids as one uuid[] and the "*" test, each a one-time subquery (an InitPlan) rather than a
# function call per row; tenant_id is compared to the array as a uuid, never cast to text. The outer cast, a no-op,
# makes ANY take the subquery's one value as the array (``ANY (SELECT …)`` would compare with each row instead).
_PREDICATE = (
    "{column} = ANY ((SELECT string_to_array(nullif(current_setting('{setting}', true), '*'), ',')::uuid[])::uuid[]) "
    "OR (SELECT current_setting('{setting}', true)) = '*'"
)


@dataclass(frozen=True)
class ScopedTable:
    table: str
    column: str


@dataclass(frozen=True)
class RolePlan:
    """The roles and what each may do: ``limited`` maps a table to its privileges when not ``READ_WRITE``."""

    app_role: str
    operator_role: str
    tables: Sequence[str]
    app_limited: dict[str, tuple[str, ...]] = field(default_factory=dict)
    operator_limited: dict[str, tuple[str, ...]] = field(default_factory=dict)


def scoped_tables(*, tenant_table: str) -> list[ScopedTable]:
    """The tenants table (by its id) and every model table with a ``tenant_id`` column, sorted by name."""
    found = {ScopedTable(tenant_table, "id")}
    for model in apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        if any(column.column == TENANT_COLUMN for column in model._meta.concrete_fields):
            found.add(ScopedTable(model._meta.db_table, TENANT_COLUMN))
    return sorted(found, key=lambda scoped: scoped.table)


def policy_predicate(column: str) -> str:
    return _PREDICATE.format(column=column, setting=SCOPE_SETTING)


def policy_statements(connection: BaseDatabaseWrapper, scoped: ScopedTable) -> list[str]:
    table = connection.ops.quote_name(scoped.table)
    predicate = policy_predicate(connection.ops.quote_name(scoped.column))
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}",
        f"CREATE POLICY {POLICY_NAME} ON {table} USING ({predicate}) WITH CHECK ({predicate})",
    ]


def tables_without_policy(connection: BaseDatabaseWrapper, tables: Iterable[ScopedTable]) -> list[ScopedTable]:
    """Those of ``tables`` that exist and lack RLS, FORCE or the policy (one catalog query)."""
    wanted = {scoped.table: scoped for scoped in tables}
    sql = (
        "SELECT c.relname FROM pg_class c WHERE c.relname = ANY(%s) AND c.relkind = 'r' "
        "AND c.relnamespace = current_schema()::regnamespace "
        "AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity "
        "OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s))"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(wanted), POLICY_NAME])
        return [wanted[name] for (name,) in cursor.fetchall()]


def role_name_checked(name: str) -> str:
    if not _ROLE_NAME.match(name):
        raise ValueError(f"not a plain role name: {name!r} (lower-case letters, digits and underscores)")
    return name


def role_statements(connection: BaseDatabaseWrapper, role: str, *, login: bool) -> list[str]:
    """Create the role when missing, bypassing nothing and creating nothing; refuse one that exists with more
    (changing those attributes needs a superuser, and RLS would not bind a superuser or BYPASSRLS role)."""
    quoted = connection.ops.quote_name(role_name_checked(role))
    attributes = "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT"
    named = f"FROM pg_roles WHERE rolname = '{role}'"  # the name matched _ROLE_NAME
    powerful = "rolsuper OR rolbypassrls OR rolcreatedb OR rolcreaterole OR rolreplication"
    create = (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 {named}) THEN CREATE ROLE {quoted} NOLOGIN {attributes}; "
        f"ELSIF EXISTS (SELECT 1 {named} AND ({powerful})) THEN "
        f"RAISE EXCEPTION 'role {role} may bypass row-level security or create roles or databases: "
        f"take those away first'; END IF; END $$"
    )
    return [create, f"ALTER ROLE {quoted} {'LOGIN' if login else 'NOLOGIN'}"]


def grant_statements(connection: BaseDatabaseWrapper, plan: RolePlan, *, schema: str) -> list[str]:
    """Exact privileges, whatever was granted before: each table's are revoked, then granted again."""
    quote = connection.ops.quote_name
    statements = []
    for role, limited in ((plan.app_role, plan.app_limited), (plan.operator_role, plan.operator_limited)):
        quoted_role = quote(role_name_checked(role))
        statements.append(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {quoted_role}")
        for table in plan.tables:
            privileges = ", ".join(limited.get(table, READ_WRITE))
            statements.append(f"REVOKE ALL ON {quote(table)} FROM {quoted_role}")
            statements.append(f"GRANT {privileges} ON {quote(table)} TO {quoted_role}")
        statements.append(f"REVOKE ALL ON {quote(MIGRATIONS_TABLE)} FROM {quoted_role}")
        statements.append(f"GRANT SELECT ON {quote(MIGRATIONS_TABLE)} TO {quoted_role}")
        statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote(schema)} TO {quoted_role}")
    return statements


def existing_roles(connection: BaseDatabaseWrapper, roles: Iterable[str]) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(roles)])
        return {name for (name,) in cursor.fetchall()}


def tables_not_granted(connection: BaseDatabaseWrapper, role: str, tables: Iterable[str]) -> list[str]:
    """Those of ``tables`` that exist and ``role`` cannot read yet: new since the last grant."""
    sql = (
        "SELECT c.relname FROM pg_class c WHERE c.relname = ANY(%s) AND c.relkind = 'r' "
        "AND c.relnamespace = current_schema()::regnamespace AND NOT has_table_privilege(%s, c.oid, 'SELECT')"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(tables), role])
        return sorted(name for (name,) in cursor.fetchall())


def current_schema(connection: BaseDatabaseWrapper) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        row = cursor.fetchone()
    if row is None or row[0] is None:
        raise RuntimeError("the connection has no current schema")
    return str(row[0])
