"""The relay (``maintenance.events_relay``, every few seconds): nothing owed is ever lost.

It takes back deliveries whose lease expired (a worker killed mid-attempt: pending again, due now, the same
``webhook-id``; the consumer may then see that attempt twice), and publishes due pending deliveries that were
never published, were published before they became due (a retry), or were published long enough ago that the
task must have been lost. Bounded per run; the rest wait for the next run.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from events.models import DeliveryStatus, EventDelivery
from events.publishing import deliveries_publish


def events_relay() -> dict[str, int]:
    now = timezone.now()
    taken_back = leases_expired_take_back(now=now)
    due = deliveries_unpublished(now=now, limit=settings.GATEWAY_EVENTS_RELAY_BATCH)
    EventDelivery.objects.filter(pk__any_of=due).update(published_at=now)
    return {"taken_back": taken_back, "published": deliveries_publish(due)}


def leases_expired_take_back(*, now: datetime) -> int:
    """Deliveries whose lease expired are due again; one whose attempts are used up (a delivery that kills
    the worker attempting it, each time) ends failed instead."""
    expired = EventDelivery.objects.filter(status=DeliveryStatus.DELIVERING, lease_expires_at__lt=now)
    expired.filter(attempts__gt=len(settings.GATEWAY_EVENTS_RETRY_SCHEDULE)).update(
        status=DeliveryStatus.FAILED, lease_expires_at=None, lease_token=None
    )
    return expired.update(
        status=DeliveryStatus.PENDING, lease_expires_at=None, lease_token=None, next_attempt_at=now, published_at=None
    )


def deliveries_unpublished(*, now: datetime, limit: int) -> list[uuid.UUID]:
    republish_before = now - timedelta(seconds=settings.GATEWAY_EVENTS_REPUBLISH_SECONDS)
    lost = (
        Q(published_at__isnull=True) | Q(published_at__lt=F("next_attempt_at")) | Q(published_at__lt=republish_before)
    )
    due = EventDelivery.objects.filter(
        lost, status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__is_enabled=True
    ).order_by("next_attempt_at")
    return list(due.values_list("pk", flat=True)[:limit])
