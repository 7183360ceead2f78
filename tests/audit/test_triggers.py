"""PostgreSQL refuses UPDATE and DELETE on audit events; the chain head stays updatable."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from audit.models import AuditAction, AuditChainHead, AuditEvent
from audit.services import audit_record
from tests.audit.support import postgresql_only

trigger_migration = importlib.import_module("audit.migrations.0002_append_only_trigger")

pytestmark = [postgresql_only("the append-only trigger exists on PostgreSQL only"), pytest.mark.django_db]


@pytest.fixture
def event() -> AuditEvent:
    return audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=None, actor_label="alice")


def test_an_orm_update_is_refused_and_changes_nothing(event: AuditEvent) -> None:
    refused = pytest.raises(DatabaseError, match="audit events are append-only: UPDATE on audit_auditevent refused")

    with refused, transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_label="mallory")

    assert AuditEvent.objects.get(pk=event.pk).actor_label == "alice"


def test_a_model_save_is_refused(event: AuditEvent) -> None:
    event.actor_label = "mallory"

    with pytest.raises(DatabaseError, match="append-only: UPDATE"), transaction.atomic():
        event.save()


def test_a_raw_delete_is_refused_and_removes_nothing(event: AuditEvent) -> None:
    refused = pytest.raises(DatabaseError, match="audit events are append-only: DELETE on audit_auditevent refused")

    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])

    assert AuditEvent.objects.filter(pk=event.pk).count() == 1


def test_an_orm_delete_is_refused(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        AuditEvent.objects.all().delete()

    assert AuditEvent.objects.count() == 1


def test_the_chain_head_stays_updatable(event: AuditEvent) -> None:
    audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=None)

    assert AuditChainHead.objects.filter(chain=event.chain).update(last_seq=7) == 1


def test_the_reverse_migration_drops_the_triggers(event: AuditEvent) -> None:
    with connection.schema_editor() as editor:
        trigger_migration.drop_triggers(apps, editor)

    assert AuditEvent.objects.filter(pk=event.pk).update(actor_label="changed") == 1
    assert AuditEvent.objects.filter(pk=event.pk).delete() == (1, {"audit.AuditEvent": 1})
