"""Row-level security as the tenant-isolation backstop (I3): the catalog, and queries run as the application role
that forget their tenant filter yet see only the tenants in scope."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, ProgrammingError, connection, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from rest_framework.request import Request

from accounts.api_auth import ApiKeyAuthentication
from accounts.apikeys import api_key_issue
from accounts.mfa import totp_device_provision
from accounts.middleware import SessionLifetimeMiddleware
from accounts.models import ApiKey, ApiScope, Membership, Role, Tenant, User
from audit.models import AuditAction, AuditEvent
from audit.services import audit_record
from core.rls import POLICY_NAME
from core.tenancy import (
    all_tenants,
    connection_scope_receive,
    current_scope,
    request_scope_begin,
    request_scope_end,
    tenant_scope,
)
from gateway.database_roles import rls_ensure
from messaging.models import Channel, Contact, Conversation, Message
from tests.admin_pages import changelist_count
from tests.conftest import PASSWORD, verify_session
from tests.database_roles import app_role, database_roles, postgresql_only
from tests.messaging.test_api import World, world_a, world_b

__all__ = ["app_role", "database_roles", "world_a", "world_b"]

pytestmark = [pytest.mark.django_db, postgresql_only]

SEEDED_MODELS = (Tenant, Channel, Contact, Conversation, Message, ApiKey)


def _tenant_tables() -> dict[str, str]:
    """Every table holding tenants' rows, from the models: those with a tenant_id column, and the tenants."""
    tables = {Tenant._meta.db_table: "id"}
    for model in apps.get_models(include_auto_created=True):
        if any(field.column == "tenant_id" for field in model._meta.concrete_fields):
            tables[model._meta.db_table] = "tenant_id"
    return tables


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608 - a model's table
        return int(cursor.fetchone()[0])


def _refused(sql: str) -> str:
    """The error a statement gets, in a savepoint so the test's transaction goes on."""
    with pytest.raises(ProgrammingError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    return str(refused.value)


@pytest.fixture
def keys(world_a: World, world_b: World) -> dict[str, str]:
    scopes = [ApiScope.MESSAGES_READ]
    return {
        "a": api_key_issue(tenant=world_a.tenant, name="reader", scopes=scopes).plaintext,
        "b": api_key_issue(tenant=world_b.tenant, name="reader", scopes=scopes).plaintext,
    }


# --- The catalog --------------------------------------------------------------------------------------


def test_the_application_role_owns_nothing_and_bypasses_nothing(database_roles, settings):
    for role in (settings.GATEWAY_DB_APP_ROLE, settings.GATEWAY_DB_OPERATOR_ROLE):
        with connection.cursor() as cursor:
            attributes = "rolsuper, rolbypassrls, rolcreaterole, rolcreatedb"
            cursor.execute(f"SELECT {attributes} FROM pg_roles WHERE rolname = %s", [role])  # noqa: S608
            assert cursor.fetchall() == [(False, False, False, False)]
            cursor.execute("SELECT count(*) FROM pg_class WHERE relowner = %s::regrole", [role])
            assert cursor.fetchone() == (0,)


def test_every_tenant_table_has_row_level_security_forced_and_the_policy(database_roles):
    tables = _tenant_tables()
    assert {model._meta.db_table for model in SEEDED_MODELS} <= set(tables)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s) "
            "FROM pg_class c WHERE c.relname = ANY(%s) AND c.relkind = 'r'",
            [POLICY_NAME, list(tables)],
        )
        found = {name: flags for name, *flags in cursor.fetchall()}
    assert found == {table: [True, True, True] for table in tables}


def test_migrate_puts_back_a_policy_that_went_missing(database_roles):
    with connection.cursor() as cursor:
        cursor.execute(f"DROP POLICY {POLICY_NAME} ON messaging_message")
        cursor.execute("ALTER TABLE messaging_message NO FORCE ROW LEVEL SECURITY")

    rls_ensure(using=connection.alias)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relforcerowsecurity, "
            "(SELECT count(*) FROM pg_policy WHERE polrelid = 'messaging_message'::regclass) "
            "FROM pg_class WHERE relname = 'messaging_message'"
        )
        assert cursor.fetchone() == (True, 1)


def test_db_roles_prints_its_sql_and_explains_the_deployment(database_roles):
    printed = io.StringIO()
    call_command("db_roles", "--print", stdout=printed)
    assert 'CREATE POLICY gateway_tenant_scope ON "messaging_message"' in printed.getvalue()
    assert 'GRANT SELECT, INSERT ON "audit_auditevent" TO "gateway_app"' in printed.getvalue()
    assert "TRUNCATE" not in printed.getvalue()


def test_db_roles_refuses_a_role_that_already_bypasses_row_level_security(database_roles, settings):
    settings.GATEWAY_DB_OPERATOR_ROLE = "gateway_rls_bypassing_probe"
    with connection.cursor() as cursor:  # rolled back with the test, as the role is
        cursor.execute("CREATE ROLE gateway_rls_bypassing_probe NOLOGIN BYPASSRLS")

    with pytest.raises(ProgrammingError, match="may bypass row-level security"):
        call_command("db_roles", stdout=io.StringIO())


# --- Queries as the application role ------------------------------------------------------------------


def test_without_a_scope_every_tenant_table_is_empty_though_rows_exist(app_role, keys, world_a: World, world_b: World):
    audit_record(action=AuditAction.TENANT_CREATED, tenant_id=world_a.tenant.pk)
    audit_record(action=AuditAction.TENANT_CREATED, tenant_id=world_b.tenant.pk)
    seeded = [model._meta.db_table for model in (*SEEDED_MODELS, AuditEvent)]
    assert {table: _count(table) >= 2 for table in seeded} == dict.fromkeys(seeded, True)

    with tenant_scope([]):
        assert {table: _count(table) for table in _tenant_tables()} == dict.fromkeys(_tenant_tables(), 0)


def test_a_query_that_forgets_its_tenant_filter_sees_only_the_tenant_in_scope(app_role, world_a: World, world_b: World):
    with tenant_scope([world_a.tenant.pk]):
        assert set(Message.objects.values_list("pk", flat=True)) == {message.pk for message in world_a.messages}
        assert set(Contact.objects.values_list("pk", flat=True)) == {contact.pk for contact in world_a.contacts}
        assert list(Channel.objects.values_list("pk", flat=True)) == [world_a.channel.pk]
        assert list(Tenant.objects.values_list("pk", flat=True)) == [world_a.tenant.pk]
        assert Message.objects.filter(tenant=world_b.tenant).count() == 0
        assert _count(Message._meta.db_table) == len(world_a.messages)  # raw SQL too
        with all_tenants():
            assert Message.objects.count() == len(world_a.messages) + len(world_b.messages)
        assert Message.objects.count() == len(world_a.messages)  # the narrower scope is back


def test_a_transaction_holding_another_tenants_row_lock_still_sees_only_its_scope(
    app_role, world_a: World, world_b: World
):
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=world_b.messages[0].pk)  # as an operator job
        with tenant_scope([world_a.tenant.pk]):
            assert _count(Message._meta.db_table) == len(world_a.messages)
            assert not Message.objects.filter(pk=locked.pk).exists()
        assert Message.objects.filter(pk=locked.pk).exists()


def test_a_connection_opened_inside_a_scope_starts_with_it(app_role, tenant_a: Tenant, settings):
    other = connections.create_connection(DEFAULT_DB_ALIAS)  # a second session, as after a reconnect
    try:
        with tenant_scope([tenant_a.pk]):
            other.ensure_connection()
            with other.connection.cursor() as cursor:
                cursor.execute(f"SET ROLE {settings.GATEWAY_DB_APP_ROLE}")
            connection_scope_receive(None, connection=other)  # what connection_created does on a real reconnect
            with other.cursor() as cursor:
                cursor.execute("SELECT current_setting('gateway.tenants', true)")
                assert cursor.fetchone() == (str(tenant_a.pk),)
    finally:
        other.close()


def test_a_row_of_another_tenant_cannot_be_written(app_role, world_a: World, world_b: World):
    with tenant_scope([world_a.tenant.pk]):
        with pytest.raises(ProgrammingError, match="row-level security"), transaction.atomic():
            Contact.objects.create(tenant=world_b.tenant, platform="whatsapp", external_id="16505550099")
        assert Message.objects.filter(pk=world_b.messages[0].pk).update(status="failed") == 0
        assert Message.objects.filter(pk=world_b.messages[0].pk).delete()[0] == 0
    assert Message.objects.get(pk=world_b.messages[0].pk).status == world_b.messages[0].status


def test_the_application_role_appends_to_the_audit_log_and_never_changes_it(app_role, tenant_a: Tenant):
    with tenant_scope([tenant_a.pk]):
        event = audit_record(action=AuditAction.TENANT_CREATED, tenant_id=tenant_a.pk, target_id=str(tenant_a.pk))
        assert AuditEvent.objects.filter(pk=event.pk).exists()
        table = AuditEvent._meta.db_table
        assert "permission denied" in _refused(f"UPDATE {table} SET action = 'x'")  # noqa: S608
        assert "permission denied" in _refused(f"DELETE FROM {table}")  # noqa: S608
        assert "permission denied" in _refused(f"TRUNCATE {table}")
        assert "permission denied" in _refused(f"TRUNCATE {Message._meta.db_table}")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- Requests and jobs ----------------------------------------------------------------------------------


def test_an_api_request_lists_only_its_keys_tenants_messages(app_role, keys, world_a: World, world_b: World):
    for key, world in ((keys["a"], world_a), (keys["b"], world_b)):
        response = Client().get("/api/v1/messages/", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200, response.content
        assert {row["id"] for row in response.json()["results"]} == {str(message.pk) for message in world.messages}
    assert current_scope() == "*"  # the test's own scope is back after each request


def test_an_unfiltered_query_inside_an_api_request_sees_only_the_keys_tenant(
    app_role, keys, world_a: World, world_b: World
):
    request_scope_begin(None)
    try:
        assert Message.objects.count() == 0  # no principal yet: no tenant
        django_request = RequestFactory().get("/api/v1/messages/", HTTP_AUTHORIZATION=f"Bearer {keys['a']}")
        authenticated = ApiKeyAuthentication().authenticate(Request(django_request))
        assert authenticated is not None
        assert authenticated[0].tenant == world_a.tenant
        assert set(Message.objects.values_list("pk", flat=True)) == {message.pk for message in world_a.messages}
    finally:
        request_scope_end(None)


def _staff(tenant: Tenant) -> User:
    with all_tenants():
        user = User.objects.create_user(f"owner@{tenant.slug}.rls.example", PASSWORD, is_staff=True)
        Membership.objects.create(tenant=tenant, user=user, role=Role.OWNER)
    return user


def test_a_staff_members_request_sees_only_their_tenants(app_role, world_a: World, world_b: World):
    request = RequestFactory().get("/admin/")
    request.user = _staff(world_a.tenant)
    request.session = {}  # type: ignore[assignment]

    def unfiltered(_: HttpRequest) -> HttpResponse:
        return HttpResponse(str(Message.objects.count()))

    request_scope_begin(None)
    try:
        assert SessionLifetimeMiddleware(unfiltered)(request).content == str(len(world_a.messages)).encode()
    finally:
        request_scope_end(None)


def test_a_staff_members_admin_changelist_renders_their_tenants_rows(app_role, world_a: World, world_b: World):
    user = _staff(world_a.tenant)
    client = Client()
    client.force_login(user)
    verify_session(client, totp_device_provision(user=user))

    response = client.get("/admin/messaging/message/")

    assert response.status_code == 200
    assert changelist_count(response) == len(world_a.messages)


def test_a_celery_task_runs_over_every_tenant_and_its_scope_ends_with_it(app_role, world_a: World, world_b: World):
    from celery.signals import task_postrun, task_prerun

    with tenant_scope([]):
        task_prerun.send(sender=None, task_id="task-1", task=None)
        assert Message.objects.count() == len(world_a.messages) + len(world_b.messages)
        task_postrun.send(sender=None, task_id="task-1", task=None)
        assert Message.objects.count() == 0
