"""Figures read from the rows held now: messages of the period, data held by kind and age, webhook deliveries."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMinute

from accounts.models import Tenant
from console.reports.periods import Period
from console.reports.types import AGE_BOUNDS_DAYS, Holding, MessageCount, WebhookFigures
from messaging.models import Contact, Direction, MediaAttachment, MediaStatus, Message, Platform
from webhooks.models import Delivery, DeliveryStatus

PERCENT = Decimal("0.01")


def messages_by_platform(*, tenant: Tenant, period: Period) -> tuple[MessageCount, ...]:
    """Messages received or sent in the period (by ``received_at``: when the gateway stored them), every
    platform and direction listed, zero included."""
    rows = (
        Message.objects.filter(tenant=tenant, received_at__gte=period.start, received_at__lt=period.end)
        .values_list("channel__platform", "direction")
        .annotate(count=Count("pk"))
        .order_by()
    )
    counts = {(platform, direction): count for platform, direction, count in rows}
    return tuple(
        MessageCount(platform, direction, counts.get((platform, direction), 0))
        for platform in Platform.values
        for direction in Direction.values
    )


def data_held(*, tenant: Tenant, now: datetime) -> tuple[Holding, ...]:
    """What the gateway holds about the tenant now, by kind, with the ages of the rows."""
    return (
        _holding("messages", Message.objects.filter(tenant=tenant), "received_at", now),
        _holding(
            "message contents",
            Message.objects.filter(tenant=tenant, content_purged_at__isnull=True),
            "received_at",
            now,
        ),
        _holding(
            "media files",
            MediaAttachment.objects.filter(tenant=tenant, status=MediaStatus.STORED),
            "received_at",
            now,
        ),
        _holding("contacts", Contact.objects.filter(tenant=tenant), "created_at", now),
        _holding("raw webhook deliveries", Delivery.objects.filter(tenant_id=tenant.pk), "received_at", now),
    )


def _holding(kind: str, rows: QuerySet[Any], stamp: str, now: datetime) -> Holding:
    """One query: a count per age bucket (``AGE_BOUNDS_DAYS``), by the rows' ``stamp``."""
    cutoffs = [now - timedelta(days=days) for days in AGE_BOUNDS_DAYS]
    buckets: dict[str, Count] = {}
    newer: datetime | None = None
    for index, older in enumerate([*cutoffs, None]):
        window = Q()
        if older is not None:
            window &= Q(**{f"{stamp}__gt": older})
        if newer is not None:
            window &= Q(**{f"{stamp}__lte": newer})
        buckets[f"age_{index}"] = Count("pk", filter=window)
        newer = older
    counts = rows.order_by().aggregate(**buckets)
    by_age = tuple(int(counts[f"age_{index}"]) for index in range(len(buckets)))
    return Holding(kind=kind, total=sum(by_age), by_age=by_age)


def webhooks(*, tenant: Tenant, period: Period) -> WebhookFigures:
    deliveries = Delivery.objects.filter(tenant_id=tenant.pk, received_at__gte=period.start, received_at__lt=period.end)
    statuses = dict(deliveries.order_by().values_list("status").annotate(count=Count("pk")))
    latencies = sorted(_latencies_ms(deliveries))
    acks = sorted(deliveries.filter(ack_ms__isnull=False).values_list("ack_ms", flat=True).iterator())
    minutes = _minutes(deliveries)
    all_processed = sum(1 for total, processed in minutes if total == processed)
    return WebhookFigures(
        deliveries=sum(statuses.values()),
        processed=statuses.get(DeliveryStatus.PROCESSED, 0),
        failed=statuses.get(DeliveryStatus.FAILED, 0),
        waiting=statuses.get(DeliveryStatus.RECEIVED, 0),
        ack_ms_median=_rank(acks, 0.5),
        ack_ms_p95=_rank(acks, 0.95),
        ack_ms_max=acks[-1] if acks else None,
        latency_ms_median=_rank(latencies, 0.5),
        latency_ms_p95=_rank(latencies, 0.95),
        latency_ms_max=latencies[-1] if latencies else None,
        minutes_with_deliveries=len(minutes),
        minutes_all_processed=all_processed,
        availability_percent=_percent(all_processed, len(minutes)),
    )


def _latencies_ms(deliveries: QuerySet[Delivery]) -> Iterator[int]:
    processed = deliveries.filter(status=DeliveryStatus.PROCESSED, processed_at__isnull=False)
    for received_at, processed_at in processed.values_list("received_at", "processed_at").iterator():
        if processed_at is not None:  # filtered out above; the type does not know it
            yield max(0, int((processed_at - received_at) / timedelta(milliseconds=1)))


def _minutes(deliveries: QuerySet[Delivery]) -> list[tuple[int, int]]:
    """(deliveries, processed) for each minute of the period that had deliveries."""
    rows = (
        deliveries.annotate(minute=TruncMinute("received_at"))
        .values("minute")
        .annotate(total=Count("pk"), processed=Count("pk", filter=Q(status=DeliveryStatus.PROCESSED)))
        .order_by()
    )
    return [(row["total"], row["processed"]) for row in rows]


def _rank(values: list[int], share: float) -> int | None:
    """The nearest-rank percentile of sorted ``values``."""
    if not values:
        return None
    return values[max(0, math.ceil(share * len(values)) - 1)]


def _percent(part: int, whole: int) -> str | None:
    if not whole:
        return None
    return str((Decimal(100 * part) / Decimal(whole)).quantize(PERCENT, rounding=ROUND_DOWN))
