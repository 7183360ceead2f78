"""Endpoint operations the management API and the admin call: secrets, URL checks, replay, resend, test, backlog.

These are the smallest versions that keep the state right (secrets in the Standard Webhooks format, deliveries
set pending); the delivery engine owns the signing, the SSRF guard and the sending.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from events.models import DeliveryStatus, Endpoint, Event, EventDelivery
from messaging.business_events import EventType

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ALLOWED_SCHEMES = ("http", "https")
BACKLOG_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class EndpointBacklog:
    pending: int
    oldest_undelivered_at: datetime | None
    success_rate: float | None  # delivered / settled over BACKLOG_WINDOW; None when nothing settled


def endpoint_secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def endpoint_secret_rotate(endpoint: Endpoint, overlap: timedelta) -> str:
    """A new secret; the previous one keeps signing alongside it for ``overlap``."""
    secret = endpoint_secret_new()
    endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, timezone.now() + overlap
    endpoint.secret = secret
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"])
    return secret


def endpoint_url_check(url: str) -> str | None:
    """Why ``url`` cannot receive events, or None."""
    if urlsplit(url).scheme not in ALLOWED_SCHEMES:
        return "The URL must use http or https."
    return None


def event_replay(event: Event, endpoint: Endpoint) -> None:
    """Deliver ``event`` to ``endpoint`` again (once more, whatever happened before)."""
    _pending(EventDelivery.objects.filter(event=event, endpoint=endpoint))
    EventDelivery.objects.get_or_create(
        event=event, endpoint=endpoint, defaults={"tenant_id": event.tenant_id, "next_attempt_at": timezone.now()}
    )


def endpoint_replay(endpoint: Endpoint, since: datetime, until: datetime) -> int:
    """Every event the endpoint subscribes to that occurred in [since, until), delivered again; returns how many."""
    events = Event.objects.filter(
        tenant_id=endpoint.tenant_id, type__in=endpoint.event_types, occurred_at__gte=since, occurred_at__lt=until
    )
    if endpoint.channel_id is not None:
        events = events.filter(channel_id=endpoint.channel_id)
    count = 0
    with transaction.atomic():
        for event in events:
            event_replay(event, endpoint)
            count += 1
    return count


def endpoint_failed_resend(endpoint: Endpoint) -> int:
    return _pending(EventDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.FAILED))


def endpoint_test_send(endpoint: Endpoint) -> None:
    """A ``ping`` owed to this endpoint only."""
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(tenant_id=endpoint.tenant_id, type=EventType.PING, occurred_at=now)
        EventDelivery.objects.create(tenant_id=endpoint.tenant_id, event=event, endpoint=endpoint, next_attempt_at=now)


def endpoint_backlog(endpoint: Endpoint) -> EndpointBacklog:
    deliveries = EventDelivery.objects.filter(endpoint=endpoint)
    undelivered = deliveries.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.DELIVERING])
    recent = deliveries.filter(created_at__gte=timezone.now() - BACKLOG_WINDOW)
    delivered = recent.filter(status=DeliveryStatus.DELIVERED).count()
    settled = recent.filter(Q(status=DeliveryStatus.DELIVERED) | Q(status=DeliveryStatus.FAILED)).count()
    return EndpointBacklog(
        pending=undelivered.count(),
        oldest_undelivered_at=undelivered.aggregate(oldest=Min("created_at"))["oldest"],
        success_rate=delivered / settled if settled else None,
    )


def _pending(deliveries: QuerySet[EventDelivery]) -> int:
    return deliveries.update(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now())
