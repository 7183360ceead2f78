"""What operators and tenants do to deliveries, for the API and the admin (which check the tenant, audit and
answer): replay one event or a time range to an endpoint, resend what failed, send a test event, enable an
endpoint again, read its backlog; and the purge of the delivery log that the retention policy runs.

A replayed delivery starts a fresh schedule: its row (one per event and endpoint) goes back to pending and due,
attempts counted from zero; one being attempted right now is left to finish. Nothing here sends: the rows are
published on commit and the ``events`` workers deliver them, once the endpoint is enabled (``endpoint_enable``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, Event, EventDelivery
from events.outbox import BATCH_ROWS, Subscription, deliveries_owe
from events.publishing import deliveries_publish_on_commit
from messaging.business_events import EventType

UNDELIVERED = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)
SUCCESS_WINDOW = timedelta(hours=24)


class CrossTenantError(ValueError):
    """An event of one tenant was about to be delivered to another tenant's endpoint."""


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_undelivered_age: timedelta | None
    attempts_24h: int
    success_rate_24h: float | None  # None without attempts in the window


def event_replay(event: Event, endpoint: Endpoint) -> EventDelivery:
    """Deliver ``event`` to ``endpoint`` again (or for the first time), on a fresh schedule."""
    if event.tenant_id != endpoint.tenant_id:
        raise CrossTenantError("the event and the endpoint belong to different tenants")
    with transaction.atomic():
        deliveries_replay([event], endpoint)
        return EventDelivery.objects.get(event=event, endpoint=endpoint)


def endpoint_replay(endpoint: Endpoint, since: datetime, until: datetime) -> int:
    """Deliver again every event of ``endpoint``'s subscription recorded in [since, until); returns how many.
    One transaction per BATCH_ROWS events, so a long range never holds one open for long."""
    subscription = _subscription(endpoint)
    events = Event.objects.filter(tenant_id=endpoint.tenant_id, created_at__gte=since, created_at__lt=until)
    replayed, after = 0, None
    while True:
        page = events.filter(pk__gt=after) if after else events
        batch = list(page.filter(type__in=subscription.event_types).order_by("pk")[:BATCH_ROWS])
        if not batch:
            return replayed
        with transaction.atomic():
            replayed += deliveries_replay([event for event in batch if subscription.wants(event)], endpoint)
        after = batch[-1].pk


def endpoint_failed_resend(endpoint: Endpoint) -> int:
    """Every failed delivery of ``endpoint`` again, on a fresh schedule; returns how many."""
    resent, failed = 0, EventDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.FAILED)
    while ids := list(failed.order_by("pk").values_list("pk", flat=True)[:BATCH_ROWS]):
        with transaction.atomic():
            resent += _deliveries_restart(ids)
    return resent


def endpoint_test_send(endpoint: Endpoint) -> EventDelivery:
    """A ``ping`` event for ``endpoint`` alone (no other endpoint subscribes to pings)."""
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            tenant_id=endpoint.tenant_id, type=EventType.PING.value, occurred_at=now, facts={"test": True}
        )
        (delivery,) = deliveries_owe([event], _only(endpoint, [event]))
        deliveries_publish_on_commit([delivery.pk])
    return delivery


def endpoint_enable(endpoint: Endpoint) -> int:
    """Enable ``endpoint`` again, its failure clock reset; its pending deliveries are due now (the relay publishes
    them). Returns how many are waiting."""
    now = timezone.now()
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk).update(
            is_enabled=True, disabled_reason="", disabled_at=None, failing_since=None, updated_at=now
        )
        waiting = EventDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
            next_attempt_at=now, published_at=None
        )
    endpoint.refresh_from_db()
    return waiting


def endpoint_backlog(endpoint: Endpoint) -> Backlog:
    """Deliveries waiting, the age of the oldest, and the share of successful attempts over the last 24 hours."""
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


def deliveries_replay(events: Sequence[Event], endpoint: Endpoint) -> int:
    """In the caller's transaction: ``events`` owed to ``endpoint`` again, existing rows restarted, missing rows
    created; all published on commit. Returns how many."""
    existing = dict(EventDelivery.objects.filter(endpoint=endpoint, event__in=events).values_list("event_id", "pk"))
    missing = [event for event in events if event.pk not in existing]
    created = deliveries_owe(missing, _only(endpoint, missing))
    restarted = _deliveries_restart(existing.values())
    deliveries_publish_on_commit([delivery.pk for delivery in created])
    return len(created) + restarted


def events_log_purge(tenant_id: uuid.UUID, before: datetime, batch: int) -> int:
    """Delete up to ``batch`` rows of ``tenant_id``'s delivery log older than ``before``, oldest first: attempts,
    then deliveries delivered or failed with no attempt left, then events with no delivery left (a delivery still
    owed keeps its event). Nothing cascades, so each statement is bounded; rows another transaction holds are
    skipped, not waited for. The event holding the feed's highest sequence stays (new events are numbered above
    it, so no reader's cursor is ever above the next number). Returns the rows deleted; the retention purge
    (registered in ``EventsConfig.ready``) calls it until it returns 0."""
    deleted = 0
    with transaction.atomic():
        for due in _log_selections(tenant_id, before):
            ids = _unheld_ids(due, batch - deleted)
            deleted += due.filter(pk__in=ids).delete()[0] if ids else 0
    return deleted


def events_log_due(tenant_id: uuid.UUID, before: datetime) -> int:
    """How many rows ``events_log_purge`` would remove for ``tenant_id`` and ``before``, calling it until it
    returns 0 (the retention purge's dry run)."""
    attempts = DeliveryAttempt.objects.filter(tenant_id=tenant_id, attempted_at__lt=before)
    recent_attempts = DeliveryAttempt.objects.filter(delivery=OuterRef("pk"), attempted_at__gte=before)
    finished = EventDelivery.objects.filter(tenant_id=tenant_id, created_at__lt=before).exclude(status__in=UNDELIVERED)
    going = finished.filter(~Exists(recent_attempts))
    staying = EventDelivery.objects.filter(event=OuterRef("pk")).exclude(pk__in=going.values("pk"))
    top = Event.objects.filter(sequence__isnull=False).order_by("-sequence").values("pk")[:1]
    events = Event.objects.filter(tenant_id=tenant_id, created_at__lt=before).filter(~Exists(staying))
    return attempts.count() + going.count() + events.exclude(pk__in=top).count()


def _log_selections(tenant_id: uuid.UUID, before: datetime) -> tuple[QuerySet[Any], ...]:
    """What the log purge takes, in the order it takes it, each with the index it walks."""
    attempts = DeliveryAttempt.objects.filter(tenant_id=tenant_id, attempted_at__lt=before).order_by("attempted_at")
    finished = EventDelivery.objects.filter(tenant_id=tenant_id, created_at__lt=before).exclude(status__in=UNDELIVERED)
    quiet = finished.filter(~Exists(DeliveryAttempt.objects.filter(delivery=OuterRef("pk")))).order_by("created_at")
    events = Event.objects.filter(tenant_id=tenant_id, created_at__lt=before)
    top = Event.objects.filter(sequence__isnull=False).order_by("-sequence").values("pk")[:1]
    alone = events.filter(~Exists(EventDelivery.objects.filter(event=OuterRef("pk")))).exclude(pk__in=top)
    return attempts, quiet, alone.order_by("created_at")


def _unheld_ids(due: QuerySet[Any], limit: int) -> list[Any]:
    """Lock up to ``limit`` due rows nobody else holds (PostgreSQL; SQLite has one writer at a time)."""
    if limit <= 0:
        return []
    return list(due.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[:limit])


def _deliveries_restart(ids: Iterable[uuid.UUID]) -> int:
    """Back to pending, due now, attempts from zero; a delivery being attempted right now is left alone."""
    now = timezone.now()
    ids = list(ids)
    restarted = (
        EventDelivery.objects.filter(pk__in=ids)
        .filter(~Q(status=DeliveryStatus.DELIVERING))
        .update(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            published_at=now,
            delivered_at=None,
            lease_expires_at=None,
            lease_token=None,
        )
    )
    deliveries_publish_on_commit(ids)
    return restarted


def _only(endpoint: Endpoint, events: Sequence[Event]) -> dict[uuid.UUID, list[Subscription]]:
    """``endpoint`` wanting exactly ``events``, in the shape deliveries_owe takes."""
    return {endpoint.tenant_id: [Subscription(endpoint.pk, frozenset(event.type for event in events), None)]}


def _subscription(endpoint: Endpoint) -> Subscription:
    types = frozenset(endpoint.event_types) - {EventType.PING.value}
    return Subscription(endpoint.pk, types, endpoint.channel_id)
