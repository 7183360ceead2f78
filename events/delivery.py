"""Attempting deliveries: what the ``events.deliver`` task runs for the batch of ids it was handed.

The due deliveries of the batch are read in one query with their events and endpoints, then handled endpoint by
endpoint. Each endpoint's part of the batch takes ONE of its ``max_in_flight`` slots (core.locks, shared by every
process) for its sequential POSTs, so one slow consumer holds a few workers at most, never all of them; finding
none free, that part waits a moment and is published again, without counting as an attempt. Then:

1. one statement leases them all (events.leasing: pending and due → delivering, attempts + 1, a lease expiry the
   relay watches, the batch's lease token);
2. the URL is checked (and resolved) once; the bodies are built now, in the endpoint's payload mode (content that
   expired meanwhile goes out thin; the messages of a full batch read in one query), each signed and POSTed in
   turn over the worker's one keep-alive client. A delivery whose turn would come too late for its lease is
   given back, not attempted;
3. the outcomes are recorded together (events.outcomes: one UPDATE, one insert, the endpoint's health once).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence

from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from core.addresses import PinnedTarget
from core.locks import held_slot
from core.metrics import metric_increment
from events.leasing import Lease, deliveries_lease, deliveries_postpone, deliveries_release
from events.models import DeliveryStatus, Endpoint, EventDelivery
from events.outcomes import Attempted, outcomes_record
from events.payloads import event_body, events_payloads
from events.signing import signature_headers, signing_secrets
from events.transport import Outcome, event_post, event_target

logger = logging.getLogger(__name__)

SLOT_PREFIX = "events-endpoint"


def deliveries_deliver(delivery_ids: Sequence[uuid.UUID]) -> dict[str, int]:
    """Attempt those of ``delivery_ids`` that are due, pending and of an enabled endpoint; counts by outcome."""
    rows = EventDelivery.objects.filter(
        pk__in=list(delivery_ids),
        status=DeliveryStatus.PENDING,
        next_attempt_at__lte=timezone.now(),
        endpoint__is_enabled=True,
    ).select_related("event", "endpoint")
    # Oldest first, sorted here: compiling an ORDER BY cost more than sorting a batch (tens of rows).
    due = sorted(rows, key=lambda delivery: (delivery.created_at, delivery.pk))
    by_endpoint: defaultdict[uuid.UUID, list[EventDelivery]] = defaultdict(list)
    for delivery in due:
        by_endpoint[delivery.endpoint_id].append(delivery)
    counts: Counter[str] = Counter()
    for deliveries in by_endpoint.values():
        words = _endpoint_batch_guarded(deliveries[0].endpoint, deliveries)
        for word in words:
            metric_increment("gateway_event_deliveries", outcome=word)
        counts.update(words)
    counts["not_due"] = len(delivery_ids) - sum(counts.values())
    return dict(counts)


def _endpoint_batch_guarded(endpoint: Endpoint, deliveries: list[EventDelivery]) -> list[str]:
    """One endpoint's part of the batch; a bug never stops the other endpoints' parts: it is logged by class name,
    and the deliveries it held are left to their lease, which expires into the relay's hands (which fails one
    once its attempts are used up)."""
    try:
        return endpoint_batch_deliver(endpoint, deliveries)
    except OperationalError:
        raise  # the database is away: the task retries the batch
    except Exception as error:
        _broke(deliveries, error)
        return ["error"] * len(deliveries)


def endpoint_batch_deliver(endpoint: Endpoint, deliveries: list[EventDelivery]) -> list[str]:
    """Attempt ``deliveries`` (all of ``endpoint``) if a slot of the endpoint is free, those no one else took
    meanwhile; a word per delivery for the task's counts."""
    lease_seconds = int(settings.GATEWAY_EVENTS_LEASE_SECONDS)
    slots = max(1, endpoint.max_in_flight)
    with held_slot(f"{SLOT_PREFIX}:{endpoint.pk}", slots=slots, ttl_seconds=lease_seconds) as free:
        if not free:
            deliveries_postpone(
                [delivery.pk for delivery in deliveries], seconds=float(settings.GATEWAY_EVENTS_BUSY_DELAY_SECONDS)
            )
            return ["busy"] * len(deliveries)
        lease = deliveries_lease([delivery.pk for delivery in deliveries], now=timezone.now(), seconds=lease_seconds)
        leased = [delivery for delivery in deliveries if delivery.pk in lease.attempts]
        words = _leased_deliver(endpoint, leased, lease)
    return words + ["taken"] * (len(deliveries) - len(leased))


def _leased_deliver(endpoint: Endpoint, leased: list[EventDelivery], lease: Lease) -> list[str]:
    """POST each leased delivery in turn and record the outcomes together; those whose turn would come after the
    lease can no longer cover an attempt are given back uncounted."""
    if not leased:
        return []
    target = event_target(endpoint.url)
    attempted: list[Attempted] = []
    words: list[str] = []
    bodies = [event_body(payload) for payload in events_payloads([d.event for d in leased], mode=endpoint.payload_mode)]
    secrets_in_use = signing_secrets(endpoint, now=timezone.now())
    lease_ends = time.monotonic() + (lease.expires_at - timezone.now()).total_seconds()
    attempt_seconds = float(settings.GATEWAY_EVENTS_CONNECT_TIMEOUT) + float(settings.GATEWAY_EVENTS_READ_TIMEOUT)
    for index, (delivery, body) in enumerate(zip(leased, bodies, strict=True)):
        if time.monotonic() + attempt_seconds >= lease_ends:
            rest = leased[index:]
            deliveries_release([item.pk for item in rest], token=lease.token)
            words += ["released"] * len(rest)
            break
        try:
            attempted.append(_attempt(delivery, lease.attempts[delivery.pk], target, body, secrets_in_use))
        except Exception as error:  # this delivery's bug: left to its lease, the others go on
            _broke([delivery], error)
            words.append("error")
    words += outcomes_record(endpoint, attempted, token=lease.token, now=timezone.now())
    return words


def _attempt(
    delivery: EventDelivery, attempt: int, target: PinnedTarget | Outcome, body: bytes, secrets_in_use: list[str]
) -> Attempted:
    """One signed POST (or the refusal of the endpoint's address, without one)."""
    attempted_at = timezone.now()
    if isinstance(target, Outcome):
        return Attempted(delivery, attempt, attempted_at, target)
    headers = signature_headers(
        webhook_id=delivery.event.public_id,
        timestamp=int(attempted_at.timestamp()),
        body=body,
        secrets_in_use=secrets_in_use,
    )
    return Attempted(delivery, attempt, attempted_at, event_post(target, body=body, headers=headers))


def _broke(deliveries: Sequence[EventDelivery], error: Exception) -> None:
    for delivery in deliveries:
        logger.error(  # by class name only: an exception's text may quote the payload
            "event delivery attempt broke", extra={"delivery_id": str(delivery.pk), "error": type(error).__name__}
        )
