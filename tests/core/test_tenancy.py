"""The tenant scope's bookkeeping, on any database: nesting, requests, tasks and commands. Where no policy binds the
connection (SQLite, a superuser) a scope costs no query; tests/core/test_rls.py shows it binding on PostgreSQL."""

from __future__ import annotations

import sys
import uuid

import pytest
from celery.signals import task_postrun, task_prerun

import manage
from core.tenancy import (
    ALL_TENANTS,
    NO_TENANTS,
    all_tenants,
    current_scope,
    process_scope_default,
    request_scope_begin,
    request_scope_end,
    scope_value,
    tenant_scope,
)
from gateway.management.commands.db_roles import Command as DbRolesCommand

TENANT_ONE = uuid.UUID("00000000-0000-4000-8000-000000000001")
TENANT_TWO = uuid.UUID("00000000-0000-4000-8000-000000000002")


def test_scopes_nest_and_each_gives_back_the_one_before(db, django_assert_num_queries):
    assert current_scope() == NO_TENANTS
    with django_assert_num_queries(0), tenant_scope([TENANT_TWO, TENANT_ONE, TENANT_ONE]):
        assert current_scope() == f"{TENANT_ONE},{TENANT_TWO}"
        with all_tenants():
            assert current_scope() == ALL_TENANTS
            with tenant_scope([]):
                assert current_scope() == NO_TENANTS
            assert current_scope() == ALL_TENANTS
        assert current_scope() == f"{TENANT_ONE},{TENANT_TWO}"
    assert current_scope() == NO_TENANTS


def test_a_scope_is_made_of_tenant_ids_only():
    with pytest.raises(ValueError, match="badly formed"):
        scope_value(["1 OR true"])
    with pytest.raises(ValueError, match="badly formed"):
        process_scope_default("*,x")


def test_a_request_starts_with_no_tenant_and_gives_back_the_callers_scope(db):
    with all_tenants():
        request_scope_begin(None)
        assert current_scope() == NO_TENANTS
        request_scope_end(None)
        assert current_scope() == ALL_TENANTS


def test_a_task_runs_over_every_tenant_until_it_ends(db):
    with tenant_scope([TENANT_ONE]):
        task_prerun.send(sender=None, task_id="task-1", task=None)
        assert current_scope() == ALL_TENANTS
        task_postrun.send(sender=None, task_id="task-1", task=None)
        assert current_scope() == str(TENANT_ONE)


@pytest.mark.parametrize(
    ("command", "expected"), [("migrate", ALL_TENANTS), ("shell", ALL_TENANTS), ("runserver", NO_TENANTS)]
)
def test_a_management_command_is_an_operator_job_and_runserver_serves_requests(monkeypatch, command, expected):
    seen: list[str] = []
    monkeypatch.setattr(sys, "argv", ["manage.py", command])
    monkeypatch.setattr("django.core.management.execute_from_command_line", lambda argv: seen.append(current_scope()))
    try:
        manage.main()
    finally:
        process_scope_default(NO_TENANTS)
    assert seen == [expected]


def test_db_roles_help_explains_the_deployment():
    text = DbRolesCommand().create_parser("manage.py", "db_roles").format_help()
    assert "DATABASE_URL=postgres://gateway_app@db/gateway" in text
    assert "manage.py migrate && manage.py db_roles" in text
    assert "--print" in text
