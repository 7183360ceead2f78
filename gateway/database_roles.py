"""Row-level security and database roles for this project's models (the SQL itself is in core/rls.py).

``migrate`` keeps the policies in place on its own (``rls_ensure``, a post_migrate receiver): a new tenant table
gets its policy in the migrate that creates it, and when the roles exist, their privileges on it. ``manage.py
db_roles`` creates the roles and rewrites every policy and privilege (docs/isolation.md).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from accounts.models import Tenant
from audit.models import AuditChainHead, AuditEvent
from core.rls import (
    RolePlan,
    current_schema,
    existing_roles,
    grant_statements,
    policy_statements,
    role_statements,
    scoped_tables,
    tables_not_granted,
    tables_without_policy,
)

logger = logging.getLogger(__name__)

APPEND_ONLY = ("SELECT", "INSERT")
CHAIN_HEADS = ("SELECT", "INSERT", "UPDATE")


def role_plan(connection: BaseDatabaseWrapper) -> RolePlan:
    """Every table of the installed models. The audit log is append-only for the application (its chain heads
    advance by UPDATE and are never deleted); the operator may delete audit events (pruning), never change them."""
    events, heads = AuditEvent._meta.db_table, AuditChainHead._meta.db_table
    return RolePlan(
        app_role=settings.GATEWAY_DB_APP_ROLE,
        operator_role=settings.GATEWAY_DB_OPERATOR_ROLE,
        tables=sorted(connection.introspection.django_table_names(only_existing=True, include_views=False)),
        app_limited={events: APPEND_ONLY, heads: CHAIN_HEADS},
        operator_limited={events: (*APPEND_ONLY, "DELETE"), heads: CHAIN_HEADS},
    )


def rls_statements(connection: BaseDatabaseWrapper) -> list[str]:
    """Every policy, dropped and created again."""
    tables = scoped_tables(tenant_table=Tenant._meta.db_table)
    return [statement for scoped in tables for statement in policy_statements(connection, scoped)]


def db_roles_statements(connection: BaseDatabaseWrapper, *, login: bool) -> list[str]:
    """The roles, every policy and every privilege: what ``manage.py db_roles`` runs or prints."""
    plan = role_plan(connection)
    roles = [
        statement
        for role in (plan.app_role, plan.operator_role)
        for statement in role_statements(connection, role, login=login)
    ]
    grants = grant_statements(connection, plan, schema=current_schema(connection))
    return [*roles, *rls_statements(connection), *grants]


def rls_ensure(using: str = DEFAULT_DB_ALIAS, **_: Any) -> None:
    """post_migrate: add what is missing (a policy on a new tenant table, the roles' privileges on a new table).
    A catalog query each when nothing is missing; nothing at all on SQLite."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    missing = tables_without_policy(connection, scoped_tables(tenant_table=Tenant._meta.db_table))
    statements = [statement for scoped in missing for statement in policy_statements(connection, scoped)]
    statements += _new_table_grants(connection)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    if missing:
        logger.info("row-level security added", extra={"tables": [scoped.table for scoped in missing]})


def _new_table_grants(connection: BaseDatabaseWrapper) -> list[str]:
    plan = role_plan(connection)
    roles = (plan.app_role, plan.operator_role)
    if existing_roles(connection, roles) != set(roles):
        return []  # db_roles has not run here: nothing to keep up to date
    new_tables = tables_not_granted(connection, plan.app_role, plan.tables)
    if not new_tables:
        return []
    narrowed = RolePlan(plan.app_role, plan.operator_role, new_tables, plan.app_limited, plan.operator_limited)
    return grant_statements(connection, narrowed, schema=current_schema(connection))
