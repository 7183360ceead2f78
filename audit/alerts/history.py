"""Durable hourly counts and the baseline computed from them.

Baseline (documented in docs/security-alerts.md): the mean hour of the past ``baseline_days`` days, that is the
sum of the subject's counts in the ``24 * baseline_days`` whole hours before the current one, divided by that
number of hours (hours with no row count as zero). A detector compares its window with the baseline scaled to the
window's length: ``expected = baseline_per_hour * window_seconds / 3600``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db.models import F, Sum
from django.utils import timezone

from audit.alerts.models import HourlyCount

HOUR = timedelta(hours=1)


def hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hourly_count_add(
    *, metric: str, subject: str, tenant_id: uuid.UUID | None, now: datetime | None = None, amount: int = 1
) -> None:
    """Add ``amount`` (one event, or a batch counted elsewhere) to the subject's count for the current hour (an
    UPDATE, or an INSERT the first time in the hour)."""
    hour = hour_start(now or timezone.now())
    rows = HourlyCount.objects.filter(metric=metric, subject=subject, hour=hour)
    if rows.update(count=F("count") + amount):
        return
    # First in the hour: insert a zero (or find another process's row) and add to whatever is there.
    row = HourlyCount(metric=metric, subject=subject, tenant_id=tenant_id, hour=hour, count=0)
    HourlyCount.objects.bulk_create([row], ignore_conflicts=True)
    rows.update(count=F("count") + amount)


def hourly_baseline(*, metric: str, subject: str, days: int, now: datetime | None = None) -> float:
    """The subject's mean count per hour over the ``days`` days before the current hour."""
    if days <= 0:
        return 0.0
    current = hour_start(now or timezone.now())
    start = current - timedelta(days=days)
    rows = HourlyCount.objects.filter(metric=metric, subject=subject, hour__gte=start, hour__lt=current)
    total = rows.aggregate(total=Sum("count"))["total"] or 0
    return float(total) / (days * 24)


def hourly_total(*, metric: str, tenant_id: uuid.UUID | None, start: datetime, end: datetime) -> int:
    """The tenant's counts of ``metric`` in the hours starting in [start, end)."""
    rows = HourlyCount.objects.filter(metric=metric, tenant_id=tenant_id, hour__gte=hour_start(start), hour__lt=end)
    return int(rows.aggregate(total=Sum("count"))["total"] or 0)
