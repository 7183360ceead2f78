"""Writing events and the deliveries they owe, in the caller's transaction (the sink messaging calls).

One batch of events costs two statements whatever its size: the endpoints of their tenants that are enabled (read
once per task batch inside ``core.batch_memo``), then the events and the deliveries owed, inserted together (one
statement on PostgreSQL, ``core.db.rows_insert_with_dependents``). An endpoint receives the types it subscribes
to, of its channel when it names one; ``ping`` goes only where a test event is sent.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils import timezone

from core.batch_memo import batch_memoized
from core.db import rows_insert_with_dependents
from events.models import Endpoint, Event, EventDelivery
from events.publishing import deliveries_publish_on_commit
from messaging.business_events import BusinessEvent

BATCH_ROWS = 1000  # well under PostgreSQL's 65,535 bound parameters per statement


@dataclass(frozen=True, slots=True)
class Subscription:
    """What an enabled endpoint receives."""

    endpoint_id: uuid.UUID
    event_types: frozenset[str]
    channel_id: uuid.UUID | None

    def wants(self, event: Event) -> bool:
        return event.type in self.event_types and self.channel_id in (None, event.channel_id)


def events_record(events: Sequence[BusinessEvent]) -> list[EventDelivery]:
    """Insert ``events`` and one pending delivery per subscribed endpoint, published once the caller commits;
    returns the deliveries."""
    rows = [_event_row(event) for event in events]
    owed = _owed(rows, subscriptions_of({row.tenant_id for row in rows}))
    rows_insert_with_dependents(rows, owed)  # fresh ids: every event and delivery goes in
    deliveries_publish_on_commit([delivery.pk for delivery in owed])
    return owed


def deliveries_owe(rows: Sequence[Event], subscriptions: dict[uuid.UUID, list[Subscription]]) -> list[EventDelivery]:
    """One pending delivery for each event and endpoint that wants it, stamped as published (the caller publishes
    it on commit); existing pairs are left as they are."""
    owed = _owed(rows, subscriptions)
    return EventDelivery.objects.bulk_create(owed, batch_size=BATCH_ROWS, ignore_conflicts=True) if owed else []


def _owed(rows: Sequence[Event], subscriptions: dict[uuid.UUID, list[Subscription]]) -> list[EventDelivery]:
    now = timezone.now()
    return [
        EventDelivery(
            tenant_id=row.tenant_id,
            event=row,
            endpoint_id=subscription.endpoint_id,
            next_attempt_at=now,
            published_at=now,
        )
        for row in rows
        for subscription in subscriptions.get(row.tenant_id, ())
        if subscription.wants(row)
    ]


def subscriptions_of(tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Subscription]]:
    """The enabled endpoints of these tenants, by tenant: one query (once per task batch inside ``batch_memo``)."""
    wanted = frozenset(tenant_ids)
    return batch_memoized(("event-subscriptions", wanted), functools.partial(_subscriptions_query, wanted))


def _subscriptions_query(tenant_ids: frozenset[uuid.UUID]) -> dict[uuid.UUID, list[Subscription]]:
    found: dict[uuid.UUID, list[Subscription]] = defaultdict(list)
    rows = Endpoint.objects.filter(tenant_id__in=list(tenant_ids), is_enabled=True).values_list(
        "pk", "tenant_id", "event_types", "channel_id"
    )
    for endpoint_id, tenant_id, event_types, channel_id in rows:
        found[tenant_id].append(Subscription(endpoint_id, frozenset(event_types), channel_id))
    return found


def _event_row(event: BusinessEvent) -> Event:
    return Event(
        tenant_id=event.tenant_id,
        type=event.type.value,
        occurred_at=event.occurred_at,
        channel_id=event.channel_id,
        conversation_id=event.conversation_id,
        contact_id=event.contact_id,
        message_id=event.message_id,
        facts=dict(event.facts),
    )
