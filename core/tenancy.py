"""Which tenants' rows the database lets this process see: the scope behind PostgreSQL row-level security.

Every table with a ``tenant_id`` column carries a policy (core/rls.py) that shows a row only when its tenant is
in the connection's ``gateway.tenants`` setting: a comma list of tenant ids, or ``*`` for an explicit job over
every tenant. Unset or empty shows nothing (fail closed). The policy binds only connections that are subject to
it (a role that is neither superuser nor BYPASSRLS); for any other connection, and on SQLite, every function here
costs nothing and changes nothing.

The scope is kept in Python (a context variable, so per thread) and mirrored into each open connection with a
*session-level* ``set_config``. The gateway runs in autocommit, where a transaction-local setting would end with
the statement that set it; so the setting lives on the connection and is put back explicitly: a context manager
restores the previous scope on exit, the request edge resets it when the request ends, a Celery task's scope ends
with the task, and a connection opened later receives the current scope as it is created. A rollback that
undoes a ``set_config`` brings back the scope of the transaction's start, which is the scope the surrounding
context managers hold at that point, since scopes and transactions nest.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg.pq import TransactionStatus

SCOPE_SETTING = "gateway.tenants"
ALL_TENANTS = "*"
NO_TENANTS = ""

_SUBJECT_ATTRIBUTE = "_gateway_rls_subject"
_APPLIED_ATTRIBUTE = "_gateway_rls_applied"
_SUBJECT_SQL = "SELECT NOT (rolsuper OR rolbypassrls) FROM pg_roles WHERE rolname = current_user"
_SET_SQL = "SELECT set_config(%s, %s, false)"

_scope: ContextVar[str | None] = ContextVar("gateway_tenant_scope", default=None)
_process_default = NO_TENANTS
_task_previous: dict[str, str | None] = {}
_before_request: ContextVar[str | None] = ContextVar("gateway_scope_before_request", default=None)


def scope_value(tenant_ids: Iterable[uuid.UUID | str]) -> str:
    """The setting's text for these tenants (each a valid UUID, or this raises ValueError)."""
    return ",".join(sorted({str(uuid.UUID(str(tenant_id))) for tenant_id in tenant_ids}))


def current_scope() -> str:
    """The scope in force here: a comma list of tenant ids, ``*``, or empty (no tenant)."""
    value = _scope.get()
    return _process_default if value is None else value


def process_scope_default(value: str) -> None:
    """The scope of this process outside any narrower one: ``*`` for management commands (operator jobs; manage.py
    sets it), empty (the default) elsewhere. Requests start with no tenant and Celery tasks with every tenant,
    whatever the process default."""
    global _process_default  # noqa: PLW0603 - one value per process, set once at start
    _process_default = _checked(value)


@contextmanager
def tenant_scope(tenant_ids: Iterable[uuid.UUID | str]) -> Iterator[None]:
    """Rows of these tenants only, until the block ends (an empty list: no rows at all)."""
    with _scoped(scope_value(tenant_ids)):
        yield


@contextmanager
def all_tenants() -> Iterator[None]:
    """Every tenant's rows, for work that is cross-tenant by nature (a key or webhook lookup before the tenant is
    known, login, an operator job)."""
    with _scoped(ALL_TENANTS):
        yield


def edge_scope_set(value: str) -> None:
    """The request's scope once its principal is known (an API key's tenant, an admin's memberships, ``*`` for an
    operator). Lasts until the request ends (``request_scope_end``)."""
    _scope.set(_checked(value))
    _apply(current_scope())


def scope_forget() -> None:
    """Drop any scope left in this thread, so the process default applies again (tests call it between tests: a
    principal authenticated outside a request, by a test's direct call, leaves its scope behind)."""
    _scope.set(None)
    _apply(current_scope())


def request_scope_begin(sender: object, **_: object) -> None:
    """``request_started`` receiver: every request starts with no tenant, whatever the process or caller had."""
    _before_request.set(_scope.get())
    _scope.set(NO_TENANTS)
    _apply(NO_TENANTS)


def request_scope_end(sender: object, **_: object) -> None:
    """``request_finished`` receiver (after a streamed body too): back to the scope from before the request."""
    _scope.set(_before_request.get())
    _apply(current_scope())


def rls_enforced() -> bool:
    """Whether the policies bind the default connection (opened if need be): the edge asks before spending a
    query on a principal's tenants that only the policies would use."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return False
    connection.ensure_connection()
    return rls_subject(connection)


@contextmanager
def _scoped(value: str) -> Iterator[None]:
    token = _scope.set(value)
    _apply(value)
    try:
        yield
    finally:
        _scope.reset(token)
        _apply(current_scope())


def _checked(value: str) -> str:
    if value in {ALL_TENANTS, NO_TENANTS}:
        return value
    return scope_value(value.split(","))


def _apply(value: str) -> None:
    for connection in connections.all(initialized_only=True):
        scope_apply(connection, value)


def scope_apply(connection: BaseDatabaseWrapper, value: str) -> None:
    """Mirror ``value`` into ``connection`` when it is open and bound by the policies. Outside a transaction a value
    already there is not sent again; inside one, what a rollback may undo is not remembered. In a transaction that
    has already failed this does nothing: its rollback brings back the scope of the transaction's start."""
    raw: Any = connection.connection
    if raw is None or not rls_subject(connection):
        return
    status = raw.info.transaction_status
    if status == TransactionStatus.INERROR:
        return
    in_transaction = status != TransactionStatus.IDLE
    if not in_transaction and getattr(connection, _APPLIED_ATTRIBUTE, None) == value:
        return
    with raw.cursor() as cursor:  # the driver's cursor: not a query of the application's, nor counted as one
        cursor.execute(_SET_SQL, (SCOPE_SETTING, value))
    setattr(connection, _APPLIED_ATTRIBUTE, None if in_transaction else value)


def rls_subject(connection: BaseDatabaseWrapper) -> bool:
    """Whether row-level security binds this open PostgreSQL connection's current role (asked once per
    connection, and again after ``rls_role_changed``)."""
    if connection.vendor != "postgresql" or connection.connection is None:
        return False
    known: bool | None = getattr(connection, _SUBJECT_ATTRIBUTE, None)
    if known is None:
        with connection.connection.cursor() as cursor:
            cursor.execute(_SUBJECT_SQL)
            row = cursor.fetchone()
        known = bool(row and row[0])
        setattr(connection, _SUBJECT_ATTRIBUTE, known)
    return known


def rls_role_changed(connection: BaseDatabaseWrapper) -> None:
    """Forget what ``rls_subject`` learnt: the connection's role changed (``SET ROLE``) or it was reopened."""
    setattr(connection, _SUBJECT_ATTRIBUTE, None)
    setattr(connection, _APPLIED_ATTRIBUTE, None)


def connection_scope_receive(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    """``connection_created`` receiver: a new connection starts with the scope in force where it was opened."""
    rls_role_changed(connection)
    setattr(connection, _APPLIED_ATTRIBUTE, NO_TENANTS)  # a new session has the setting unset: no tenant
    scope_apply(connection, current_scope())


def task_scope_begin(task_id: str | None = None, **_: object) -> None:
    """``task_prerun`` receiver: a Celery task is an operator job and runs over every tenant (a task that carries
    its tenant's id may narrow with ``tenant_scope``). The scope ends with the task (``task_scope_end``)."""
    _task_previous[task_id or ""] = _scope.get()
    _scope.set(ALL_TENANTS)
    _apply(ALL_TENANTS)


def task_scope_end(task_id: str | None = None, **_: object) -> None:
    """``task_postrun`` receiver: back to the scope from before the task."""
    _scope.set(_task_previous.pop(task_id or "", None))
    _apply(current_scope())
