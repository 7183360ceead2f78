"""What the API and the admin do to deliveries (they check the tenant and audit): replay one event or a time range
to an endpoint, resend what failed, send a test event, enable an endpoint again, read its backlog. Nothing here
sends: the rows are set pending and the delivery workers take them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Min, QuerySet
from django.utils import timezone

from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, Event, EventDelivery
from messaging.business_events import EventType

UNDELIVERED = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)
SUCCESS_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_undelivered_age: timedelta | None
    attempts_24h: int
    success_rate_24h: float | None  # None without attempts in the window


def event_replay(event: Event, endpoint: Endpoint) -> EventDelivery:
    """Deliver ``event`` to ``endpoint`` again (or for the first time), on a fresh schedule."""
    delivery, created = EventDelivery.objects.get_or_create(
        event=event, endpoint=endpoint, defaults={"tenant_id": event.tenant_id, "next_attempt_at": timezone.now()}
    )
    if not created:
        _restart(EventDelivery.objects.filter(pk=delivery.pk))
    return delivery


def endpoint_replay(endpoint: Endpoint, *, since: datetime, until: datetime) -> int:
    """Every event of the endpoint's subscription recorded in [since, until) again; returns how many."""
    events = Event.objects.filter(
        tenant_id=endpoint.tenant_id, type__in=endpoint.event_types, created_at__gte=since, created_at__lt=until
    )
    if endpoint.channel_id is not None:
        events = events.filter(channel_id=endpoint.channel_id)
    with transaction.atomic():
        replayed = [event_replay(event, endpoint) for event in events.exclude(type=EventType.PING)]
    return len(replayed)


def endpoint_failed_resend(endpoint: Endpoint) -> int:
    return _restart(EventDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.FAILED))


def endpoint_test_send(endpoint: Endpoint) -> EventDelivery:
    """A ``ping`` owed to this endpoint only."""
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(tenant_id=endpoint.tenant_id, type=EventType.PING, occurred_at=now)
        return EventDelivery.objects.create(
            tenant_id=endpoint.tenant_id, event=event, endpoint=endpoint, next_attempt_at=now
        )


def endpoint_enable(endpoint: Endpoint) -> int:
    """Enable ``endpoint`` again, its failure clock reset; returns how many deliveries wait for it."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        is_enabled=True, disabled_reason="", disabled_at=None, failing_since=None, updated_at=timezone.now()
    )
    endpoint.refresh_from_db()
    return EventDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).count()


def endpoint_backlog(endpoint: Endpoint) -> Backlog:
    now = timezone.now()
    undelivered = EventDelivery.objects.filter(endpoint=endpoint, status__in=UNDELIVERED)
    oldest = undelivered.aggregate(oldest=Min("created_at"))["oldest"]
    window = DeliveryAttempt.objects.filter(endpoint=endpoint, attempted_at__gte=now - SUCCESS_WINDOW)
    attempts = window.count()
    succeeded = window.filter(status_code__gte=200, status_code__lt=300).count()
    return Backlog(
        pending=undelivered.count(),
        oldest_undelivered_age=now - oldest if oldest else None,
        attempts_24h=attempts,
        success_rate_24h=succeeded / attempts if attempts else None,
    )


def _restart(deliveries: QuerySet[EventDelivery]) -> int:
    return deliveries.exclude(status=DeliveryStatus.DELIVERING).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), delivered_at=None
    )
