"""Attempting deliveries: what the ``events.deliver`` task runs for the ids it was handed.

Each due delivery is attempted at most once per publish, by one worker: it takes one of its endpoint's
``max_in_flight`` slots (core.locks, shared by every process), so one slow consumer holds a few workers at
most, never all of them; a delivery that finds none free waits a moment and is published again, without
counting as an attempt. Then one conditional UPDATE leases it (pending and due → delivering, attempts + 1, a
lease expiry the relay watches); the body is built now, in the endpoint's payload mode (content that expired
meanwhile goes out thin), signed, POSTed, and the outcome recorded (events.outcomes).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from core.locks import held_slot
from core.metrics import metric_increment
from events.models import DeliveryStatus, EventDelivery
from events.outcomes import outcome_record
from events.payloads import event_body, events_payloads
from events.signing import signature_headers, signing_secrets
from events.transport import event_post

logger = logging.getLogger(__name__)

SLOT_PREFIX = "events-endpoint"


def deliveries_deliver(delivery_ids: Sequence[uuid.UUID]) -> dict[str, int]:
    """Attempt those of ``delivery_ids`` that are due, pending and of an enabled endpoint; counts by outcome."""
    due = EventDelivery.objects.filter(
        pk__in=list(delivery_ids),
        status=DeliveryStatus.PENDING,
        next_attempt_at__lte=timezone.now(),
        endpoint__is_enabled=True,
    ).select_related("endpoint", "event")
    counts: Counter[str] = Counter(_attempt_guarded(delivery) for delivery in due)
    counts["not_due"] = len(delivery_ids) - sum(counts.values())
    return dict(counts)


def _attempt_guarded(delivery: EventDelivery) -> str:
    """One delivery's bug never stops the others of its batch: it is logged by class name, and its lease expires
    into the relay's hands (which fails it once its attempts are used up)."""
    try:
        word = delivery_attempt(delivery)
    except OperationalError:
        raise  # the database is away: the task retries the batch
    except Exception as error:
        logger.error(  # noqa: TRY400 - by class name only: an exception's text may quote the payload
            "event delivery attempt broke", extra={"delivery_id": str(delivery.pk), "error": type(error).__name__}
        )
        word = "error"
    metric_increment("events_delivery_outcomes", outcome=word)
    return word


def delivery_attempt(delivery: EventDelivery) -> str:
    """One attempt at ``delivery`` if a slot of its endpoint is free and no one else took it meanwhile."""
    endpoint = delivery.endpoint
    lease_seconds = int(settings.GATEWAY_EVENTS_LEASE_SECONDS)
    slots = max(1, endpoint.max_in_flight)
    with held_slot(f"{SLOT_PREFIX}:{endpoint.pk}", slots=slots, ttl_seconds=lease_seconds) as free:
        if not free:
            delivery_postpone(delivery, seconds=float(settings.GATEWAY_EVENTS_BUSY_DELAY_SECONDS))
            return "busy"
        now = timezone.now()
        if not delivery_lease(delivery, now=now, seconds=lease_seconds):
            return "taken"
        body = event_body(events_payloads([delivery.event], mode=endpoint.payload_mode)[0])
        headers = signature_headers(
            webhook_id=delivery.event.public_id,
            timestamp=int(now.timestamp()),
            body=body,
            secrets_in_use=signing_secrets(endpoint, now=now),
        )
        outcome = event_post(endpoint.url, body=body, headers=headers)
        return outcome_record(delivery, outcome, attempted_at=now, now=timezone.now())


def delivery_lease(delivery: EventDelivery, *, now: datetime, seconds: int) -> bool:
    """Lease ``delivery`` for one attempt (one conditional UPDATE); False when another worker took it first."""
    leased = EventDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts, next_attempt_at__lte=now
    ).update(
        status=DeliveryStatus.DELIVERING,
        attempts=delivery.attempts + 1,
        lease_expires_at=now + timedelta(seconds=seconds),
    )
    if leased:
        delivery.attempts += 1
    return bool(leased)


def delivery_postpone(delivery: EventDelivery, *, seconds: float) -> None:
    """Back to wait ``seconds`` for a free slot, to be published again by the relay (no attempt counted)."""
    EventDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts).update(
        next_attempt_at=timezone.now() + timedelta(seconds=seconds), published_at=None
    )
