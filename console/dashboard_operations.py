"""Backlogs and what needs a person: webhook deliveries, event deliveries, quarantine, paused channels, alerts.

Each figure reads rows along an index that holds only what is waiting (small in a healthy gateway), never the
whole history.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min

from accounts.admin_scope import Area
from console.dashboard_scope import DashboardScope, table
from events.models import DeliveryStatus as EventDeliveryStatus
from events.models import EventDelivery
from messaging.alerts import channel_alerts_open
from messaging.models import Channel, ChannelStatus, QuarantinedItem
from webhooks.models import Delivery, DeliveryStatus

LAG_SAMPLE = 200  # the latest processed deliveries the processing lag is measured on
LISTED = 10  # paused channels and alerts listed by name; the counts cover all of them


def webhooks_section(scope: DashboardScope, *, now: datetime) -> dict[str, Any]:
    """Deliveries stored but not processed yet, the oldest's age, and over the latest ones the acknowledgement
    latency (arrival → recorded) and received → processed."""
    if not scope.sees(Area.RAW):
        return {"visible": False}
    waiting = scope.filter(Delivery.objects.filter(status=DeliveryStatus.RECEIVED), Area.RAW)
    backlog = waiting.aggregate(count=Count("pk"), oldest=Min("received_at"))
    recent = scope.filter(Delivery.objects.all(), Area.RAW).order_by("-received_at")
    acks = sorted(ms for ms in recent.values_list("ack_ms", flat=True)[:LAG_SAMPLE] if ms is not None)
    processed = scope.filter(Delivery.objects.filter(status=DeliveryStatus.PROCESSED), Area.RAW)
    latest = processed.order_by("-received_at").values_list("received_at", "processed_at")[:LAG_SAMPLE]
    lags = sorted((done - received).total_seconds() for received, done in latest if done is not None)
    return {
        "visible": True,
        "backlog": backlog["count"],
        "oldest_age": _age(now, backlog["oldest"]),
        "ack_median": f"{statistics.median(acks):.0f} ms" if acks else "—",
        "ack_p95": f"{_p95(acks):.0f} ms" if acks else "—",
        "ack_sample": len(acks),
        "lag_median": _seconds(statistics.median(lags)) if lags else "—",
        "lag_p95": _seconds(_p95(lags)) if lags else "—",
        "lag_sample": len(lags),
        "quarantined": scope.filter(QuarantinedItem.objects.filter(replayed_at__isnull=True), Area.RAW).count(),
    }


def events_section(scope: DashboardScope, *, now: datetime) -> dict[str, Any]:
    """Event deliveries owed to endpoints (pending or being delivered) and how overdue the oldest is."""
    if not scope.sees(Area.EVENTS):
        return {"visible": False}
    owed = EventDelivery.objects.filter(status__in=[EventDeliveryStatus.PENDING, EventDeliveryStatus.DELIVERING])
    backlog = scope.filter(owed, Area.EVENTS).aggregate(count=Count("pk"), oldest=Min("next_attempt_at"))
    return {"visible": True, "backlog": backlog["count"], "oldest_due": _age(now, backlog["oldest"])}


def channels_section(scope: DashboardScope) -> dict[str, Any]:
    """Paused channels and the open alerts that paused them."""
    if not scope.sees(Area.CHANNELS):
        return {"visible": False}
    paused = scope.filter(Channel.objects.filter(status=ChannelStatus.PAUSED), Area.CHANNELS)
    alerts = channel_alerts_open(tenant_ids=scope.tenant_ids(Area.CHANNELS))
    listed_alerts = alerts[:LISTED]
    return {
        "visible": True,
        "paused_count": paused.count(),
        "paused": table(
            ["Channel", "Last changed"], [[str(c), f"{c.updated_at:%Y-%m-%d %H:%M}"] for c in paused[:LISTED]]
        ),
        "alerts_count": alerts.count(),
        "alerts": table(
            ["Channel", "Meta error", "Raised"],
            [
                [str(alert.channel), f"{alert.error_code} {alert.error_title}", f"{alert.created_at:%Y-%m-%d %H:%M}"]
                for alert in listed_alerts
            ],
        ),
    }


def _p95(ordered: list[float] | list[int]) -> float:
    return ordered[int(0.95 * (len(ordered) - 1))]


def _age(now: datetime, moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return _seconds(max((now - moment).total_seconds(), 0.0))


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return str(timedelta(seconds=round(value)))
