"""Lists that grow with the data never outgrow one statement's parameters: PostgreSQL, where they are bound on
the server, refuses more than 65,535 and SQLite more than 32,766. Each path here takes 70,000 values, on both."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.models import Membership, Tenant, User
from audit.models import AuditAction
from audit.services import audit_record
from console.models import TrafficHour
from console.reports.audit_figures import _first_at
from console.rollups import HOUR, hour_start, traffic_hours_recompute
from core.db import rows_insert
from messaging.channels import meta_app_register
from tests.console.support import messages_store, world_create
from tests.testapp.models import PlainNote
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import deliveries_requeue_failed

pytestmark = pytest.mark.django_db
MANY = 70_000


def strangers(count: int = MANY) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(count)]


def test_any_of_finds_the_rows_named_among_70000_values(tenant_a: Tenant, tenant_b: Tenant, owner_a: User) -> None:
    assert list(Tenant.objects.filter(pk__any_of=[*strangers(), tenant_a.pk])) == [tenant_a]
    members = Membership.objects.filter(tenant_id__any_of=[*strangers(), tenant_a.pk])
    assert list(members.values_list("user", flat=True)) == [owner_a.pk]
    assert set(Tenant.objects.filter(slug__any_of=[*map(str, strangers()), tenant_b.slug])) == {tenant_b}
    assert Tenant.objects.filter(pk__any_of=[]).count() == 0
    assert Membership.objects.filter(user=owner_a, tenant__any_of=[tenant_a.pk]).count() == 1


def test_any_of_takes_a_list_not_a_subquery(tenant_a: Tenant) -> None:
    with pytest.raises(TypeError, match="use __in for a subquery"):
        Tenant.objects.filter(pk__any_of=Tenant.objects.values("pk"))


def test_rows_insert_takes_70000_rows_and_skips_those_already_there(tenant_a: Tenant) -> None:
    rows = [PlainNote(id=uuid.uuid4(), tenant_id=tenant_a.pk) for _ in range(MANY)]
    assert rows_insert(rows) == {row.pk for row in rows}

    new = PlainNote(id=uuid.uuid4(), tenant_id=tenant_a.pk)
    assert rows_insert([PlainNote(id=rows[0].pk, tenant_id=tenant_a.pk), new]) == {new.pk}
    assert PlainNote._default_manager.count() == MANY + 1


def test_requeue_of_70000_selected_deliveries_requeues_the_failed_ones(tenant_a: Tenant) -> None:
    app = meta_app_register(tenant=tenant_a, name="A", app_secret="s" * 32, actor=CLI_ACTOR).meta_app
    body = b'{"object": "page", "entry": []}'
    failed, received = (
        Delivery.objects.create(
            meta_app=app,
            tenant_id=tenant_a.pk,
            body=body,
            body_bytes=len(body),
            signature="",
            status=status,
            received_at=timezone.now(),
        )
        for status in (DeliveryStatus.FAILED, DeliveryStatus.RECEIVED)
    )

    assert deliveries_requeue_failed(delivery_ids=[*strangers(), failed.pk, received.pk], actor=CLI_ACTOR) == 1

    assert dict(Delivery.objects.values_list("pk", "status")) == {
        failed.pk: DeliveryStatus.RECEIVED,
        received.pk: DeliveryStatus.RECEIVED,
    }


def test_export_timings_look_up_70000_exports_at_once(tenant_a: Tenant) -> None:
    export_id = str(uuid.uuid4())
    event = audit_record(action=AuditAction.SUBJECT_EXPORT_READY, tenant_id=tenant_a.pk, target_id=export_id)

    ready = _first_at(tenant_a, AuditAction.SUBJECT_EXPORT_READY, [*map(str, strangers()), export_id])

    assert ready == {export_id: event.occurred_at}


def test_traffic_recompute_of_70000_hours_writes_rows_of_70000_parameters(tenant_a: Tenant) -> None:
    now = timezone.now()
    world = world_create(tenant_a, "Line A")
    busy_hours = 10_000  # one rollup row each, of 7 inserted columns: 70,000 parameters
    messages_store(world, at=now, count=busy_hours, spread=HOUR * busy_hours)
    TrafficHour.objects.create(
        tenant=tenant_a, channel=world.channel, hour=hour_start(now), direction="inbound", status="read", count=9
    )
    hours = [hour_start(now) - HOUR * back for back in range(MANY)]

    assert traffic_hours_recompute(tenant_id=tenant_a.pk, hours=hours) == busy_hours

    rows = TrafficHour.objects.filter(tenant=tenant_a)
    assert (rows.count(), set(rows.values_list("count", "status").distinct())) == (busy_hours, {(1, "received")})
    assert rows.earliest("hour").hour == hour_start(now - HOUR * (busy_hours - 1))
