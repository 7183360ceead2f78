"""Gauges read when ``/metrics`` is scraped: what waits (broker queues, webhook deliveries, outbound messages,
event deliveries), open security alerts and paused channels. A handful of indexed counts; no per-tenant label.

A source that cannot be read (the database, the broker) leaves its gauges out of this scrape and reads 0 in
``gateway_scrape_source_up``; its error is not shown (it may carry a host or credentials).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from audit.alerts.models import AlertStatus, SecurityAlert, Severity
from core.queues import queue_sizes
from events.models import DeliveryStatus as EventDeliveryStatus
from events.models import EventDelivery
from messaging.models import Channel, ChannelStatus, Message, MessageStatus
from webhooks.models import Delivery, DeliveryStatus

logger = logging.getLogger(__name__)


def _age_seconds(oldest: datetime | None, now: datetime) -> float:
    return 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def queue_gauges() -> Iterator[GaugeMetricFamily]:
    family = GaugeMetricFamily("gateway_queue_backlog", "Task messages waiting in each broker queue.", labels=["queue"])
    for queue, size in queue_sizes(settings.CELERY_QUEUE_NAMES).items():
        family.add_metric([queue], size)
    yield family


def webhook_gauges(now: datetime) -> Iterator[GaugeMetricFamily]:
    waiting = Delivery.objects.filter(status=DeliveryStatus.RECEIVED).aggregate(
        count=Count("pk"), oldest=Min("received_at")
    )
    yield _gauge("gateway_webhook_backlog", "Webhook deliveries stored and not yet processed.", waiting["count"])
    yield _gauge(
        "gateway_webhook_backlog_oldest_seconds",
        "Age of the oldest webhook delivery not yet processed (0 when none).",
        _age_seconds(waiting["oldest"], now),
    )


def outbound_gauges(now: datetime) -> Iterator[GaugeMetricFamily]:
    queued = Message.objects.filter(status=MessageStatus.QUEUED).aggregate(count=Count("pk"), oldest=Min("created_at"))
    yield _gauge("gateway_outbound_queued", "Outbound messages queued (waiting, throttled or held).", queued["count"])
    yield _gauge(
        "gateway_outbound_queued_oldest_seconds",
        "Age of the oldest queued outbound message (0 when none).",
        _age_seconds(queued["oldest"], now),
    )


def event_gauges(now: datetime) -> Iterator[GaugeMetricFamily]:
    owed = EventDelivery.objects.filter(
        status__in=[EventDeliveryStatus.PENDING, EventDeliveryStatus.DELIVERING]
    ).aggregate(count=Count("pk"), oldest=Min("created_at"), endpoints=Count("endpoint_id", distinct=True))
    yield _gauge("gateway_event_backlog", "Event deliveries owed to endpoints (pending or delivering).", owed["count"])
    yield _gauge(
        "gateway_event_backlog_oldest_seconds",
        "Age of the oldest event delivery still owed (0 when none).",
        _age_seconds(owed["oldest"], now),
    )
    yield _gauge("gateway_event_backlog_endpoints", "Endpoints with at least one event owed.", owed["endpoints"])


def alert_and_channel_gauges() -> Iterator[GaugeMetricFamily]:
    rows = SecurityAlert.objects.filter(status=AlertStatus.OPEN).order_by().values("severity").annotate(n=Count("pk"))
    open_alerts = {row["severity"]: row["n"] for row in rows}
    family = GaugeMetricFamily(
        "gateway_security_alerts_open", "Open security alerts, by severity.", labels=["severity"]
    )
    for severity in Severity.values:
        family.add_metric([severity], open_alerts.get(severity, 0))
    yield family
    paused = Channel.objects.filter(status=ChannelStatus.PAUSED).count()
    yield _gauge("gateway_channels_paused", "Channels whose sending is paused.", paused)


def database_gauges() -> list[GaugeMetricFamily]:
    now = timezone.now()
    return [
        *webhook_gauges(now),
        *outbound_gauges(now),
        *event_gauges(now),
        *alert_and_channel_gauges(),
    ]


class BacklogCollector(Collector):
    """Computed afresh at each collection; the families of a source that fails are left out."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "gateway_scrape_source_up", "Whether this scrape could read a source (1) or not (0).", labels=["source"]
        )
        try:
            yield from database_gauges()
            up.add_metric(["database"], 1)
        except DatabaseError:
            logger.warning("metrics: the database could not be read for the backlog gauges")
            up.add_metric(["database"], 0)
        try:
            yield from list(queue_gauges())
            up.add_metric(["broker"], 1)
        except (BrokerError, OSError, TimeoutError):
            logger.warning("metrics: the broker could not be read for the queue gauges")
            up.add_metric(["broker"], 0)
        yield up
