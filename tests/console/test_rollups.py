"""The hourly traffic rollup equals counts taken from the messages table, and the backfill fills past hours."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.models import Tenant
from console.models import TrafficHour
from console.rollups import HOUR, hour_start, traffic_rollup_recent
from console.tasks import console_traffic_rollup_task
from messaging.models import Message
from tests.console.support import messages_store, world_create

pytestmark = pytest.mark.django_db


def rollup_counts() -> dict[tuple[object, ...], int]:
    fields = ("tenant_id", "channel_id", "hour", "direction", "status", "failure_code", "count")
    return {tuple(row[:-1]): row[-1] for row in TrafficHour.objects.values_list(*fields)}


def direct_counts(since: datetime) -> dict[tuple[object, ...], int]:
    messages = Message.objects.filter(provider_timestamp__gte=since)
    rows = messages.values_list("tenant_id", "channel_id", "provider_timestamp", "direction", "status", "failure_code")
    counts: dict[tuple[object, ...], int] = {}
    for tenant_id, channel_id, moment, direction, status, code in rows:
        key = (tenant_id, channel_id, hour_start(moment), direction, status, code)
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_the_task_counts_the_current_and_previous_hour_as_the_messages_table_does(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    now = timezone.now()
    world_a, world_b = world_create(tenant_a, "Line A"), world_create(tenant_b, "Line B")
    messages_store(world_a, at=now, count=7, spread=timedelta(minutes=50))
    messages_store(world_a, at=now - HOUR, count=3, direction="outbound", status="delivered")
    messages_store(world_a, at=now - HOUR, count=2, direction="outbound", status="failed", failure_code=131026)
    messages_store(world_b, at=now, count=4, direction="outbound", status="failed", failure_code=131047)

    counts = console_traffic_rollup_task()

    assert rollup_counts() == direct_counts(hour_start(now) - HOUR)
    assert sum(rollup_counts().values()) == 16
    assert counts["rows"] == TrafficHour.objects.count()


def test_a_second_run_replaces_the_hours_instead_of_adding_to_them(tenant_a: Tenant) -> None:
    now = timezone.now()
    world = world_create(tenant_a, "Line A")
    messages_store(world, at=now, count=5)
    traffic_rollup_recent(now=now)
    messages_store(world, at=now, count=2)

    traffic_rollup_recent(now=now)

    assert TrafficHour.objects.aggregate(total=Sum("count"))["total"] == 7


def test_an_old_message_that_changed_has_its_hour_recomputed(tenant_a: Tenant) -> None:
    now = timezone.now()
    world = world_create(tenant_a, "Line A")
    messages_store(world, at=now - timedelta(days=2), count=3, direction="outbound", status="sent")
    call_command("traffic_backfill", stdout=StringIO())
    Message.objects.filter(tenant=tenant_a).update(status="failed", failure_code=131026, updated_at=now)

    traffic_rollup_recent(now=now)

    old_hour = hour_start(now - timedelta(days=2))
    assert list(TrafficHour.objects.filter(hour=old_hour).values_list("status", "failure_code", "count")) == [
        ("failed", 131026, 3)
    ]


def test_the_backfill_fills_every_past_hour_from_the_messages_table(tenant_a: Tenant, tenant_b: Tenant) -> None:
    now = timezone.now()
    world_a, world_b = world_create(tenant_a, "Line A"), world_create(tenant_b, "Line B")
    messages_store(world_a, at=now - timedelta(days=3), count=40, spread=timedelta(days=2))
    messages_store(world_b, at=now, count=25, direction="outbound", status="read", spread=timedelta(hours=30))
    out = StringIO()

    call_command("traffic_backfill", "--json", stdout=out)

    assert rollup_counts() == direct_counts(now - timedelta(days=30))
    assert json.loads(out.getvalue())["rows"] == TrafficHour.objects.count()
    assert TrafficHour.objects.aggregate(total=Sum("count"))["total"] == 65


def test_the_backfill_with_days_leaves_older_hours_alone(tenant_a: Tenant) -> None:
    now = timezone.now()
    world = world_create(tenant_a, "Line A")
    messages_store(world, at=now - timedelta(days=5), count=6)
    messages_store(world, at=now, count=2)

    call_command("traffic_backfill", "--days", "1", stdout=StringIO())

    assert list(TrafficHour.objects.values("hour").annotate(total=Sum("count")).values_list("total", flat=True)) == [2]
    assert TrafficHour.objects.aggregate(groups=Count("pk"))["groups"] == 1
