"""The hourly traffic rollup: each (tenant, hour) is recomputed whole from the messages table and replaces
what was stored for it, so a run is idempotent and a status that changes later is counted where it belongs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncHour

from accounts.models import Tenant
from console.models import TrafficHour
from core.db import rows_per_insert
from messaging.models import Message

HOUR = timedelta(hours=1)
# A message whose row changed this recently (a status, a failure) has its hour recomputed, however old that hour.
CHANGED_LOOKBACK = timedelta(minutes=10)
BACKFILL_CHUNK_HOURS = 24  # hours recomputed per query by the backfill


def hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def traffic_rollup_recent(*, now: datetime) -> dict[str, int]:
    """Every tenant's current and previous hour, and the hours of messages changed since ``CHANGED_LOOKBACK``."""
    current = hour_start(now)
    hours = rows = 0
    for tenant_id in Tenant.objects.values_list("pk", flat=True):
        dirty = {current, current - HOUR, *_changed_hours(tenant_id, since=now - CHANGED_LOOKBACK)}
        rows += traffic_hours_recompute(tenant_id=tenant_id, hours=dirty)
        hours += len(dirty)
    return {"hours": hours, "rows": rows}


def traffic_backfill(*, since: datetime, until: datetime) -> dict[str, int]:
    """Recompute every tenant's hours from ``since`` to ``until``, a day per query."""
    first, last = hour_start(since), hour_start(until)
    hours = rows = 0
    for tenant_id in Tenant.objects.values_list("pk", flat=True):
        start = first
        while start <= last:
            chunk = [start + HOUR * step for step in range(BACKFILL_CHUNK_HOURS) if start + HOUR * step <= last]
            rows += traffic_hours_recompute(tenant_id=tenant_id, hours=chunk)
            hours += len(chunk)
            start += HOUR * BACKFILL_CHUNK_HOURS
    return {"hours": hours, "rows": rows}


def traffic_earliest() -> datetime | None:
    """When the oldest stored message was sent or received (per tenant, along its index)."""
    earliest = [
        Message.objects.filter(tenant_id=tenant_id)
        .order_by("provider_timestamp")
        .values_list("provider_timestamp", flat=True)[:1]
        for tenant_id in Tenant.objects.values_list("pk", flat=True)
    ]
    moments = [moment for query in earliest for moment in query]
    return min(moments, default=None)


def traffic_hours_recompute(*, tenant_id: uuid.UUID, hours: Iterable[datetime]) -> int:
    """Replace the tenant's rollup rows of ``hours`` (starts of hours) by counts from the messages table."""
    starts = sorted(set(hours))
    if not starts:
        return 0
    within = reduce(or_, (Q(provider_timestamp__gte=low, provider_timestamp__lt=high) for low, high in _ranges(starts)))
    groups = (
        Message.objects.filter(within, tenant_id=tenant_id)
        .annotate(hour=TruncHour("provider_timestamp"))
        .values("hour", "channel_id", "direction", "status", "failure_code")
        .annotate(count=Count("id"))
        .order_by()
    )
    rows = [TrafficHour(tenant_id=tenant_id, **group) for group in groups]
    with transaction.atomic():
        TrafficHour.objects.filter(tenant_id=tenant_id, hour__any_of=starts).delete()
        TrafficHour.objects.bulk_create(rows, batch_size=rows_per_insert(TrafficHour))
    return len(rows)


def _changed_hours(tenant_id: uuid.UUID, *, since: datetime) -> set[datetime]:
    changed = (
        Message.objects.filter(tenant_id=tenant_id, updated_at__gte=since)
        .annotate(hour=TruncHour("provider_timestamp"))
        .values_list("hour", flat=True)
        .order_by()
        .distinct()
    )
    return set(changed)


def _ranges(starts: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted hour starts as the fewest [low, high) ranges: a day of hours is one range scan, not 24."""
    ranges: list[tuple[datetime, datetime]] = []
    for start in starts:
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], start + HOUR)
        else:
            ranges.append((start, start + HOUR))
    return ranges
