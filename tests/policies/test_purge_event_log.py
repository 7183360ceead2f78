"""The retention purge takes the event stream's delivery log and feed (registered by the events app) per tenant,
under each tenant's metadata lifetime and legal holds, and records the counts like every other kind."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import grimp
import pytest
from django.utils import timezone

from accounts.models import Tenant
from audit.models import AuditAction, AuditEvent
from events.apps import EVENT_LOG
from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, Event, EventDelivery
from messaging.business_events import EventType
from messaging.models import Contact
from policies.models import LegalHold, PurgeCount, PurgeRun, RetentionPolicy
from policies.retention.purge import retention_purge, retention_purge_preview

TTL_DAYS = 40
OLD, RECENT = timedelta(days=TTL_DAYS + 10), timedelta(days=TTL_DAYS - 10)


@dataclass
class Log:
    """One tenant's delivery log: what a pass at ``now`` must remove, and what it must keep."""

    gone: list[object]
    kept: list[object]


def _event(tenant: Tenant, *, age: timedelta, now: datetime) -> Event:
    event = Event.objects.create(tenant=tenant, type=EventType.MESSAGE_RECEIVED.value, occurred_at=now - age)
    Event.objects.filter(pk=event.pk).update(created_at=now - age)
    return event


def _delivery(endpoint: Endpoint, event: Event, status: str, *, age: timedelta, now: datetime) -> EventDelivery:
    delivery = EventDelivery.objects.create(
        tenant=endpoint.tenant, event=event, endpoint=endpoint, status=status, next_attempt_at=now
    )
    EventDelivery.objects.filter(pk=delivery.pk).update(created_at=now - age)
    return delivery


def _attempt(delivery: EventDelivery, *, age: timedelta, now: datetime) -> DeliveryAttempt:
    return DeliveryAttempt.objects.create(
        tenant_id=delivery.tenant_id,
        delivery=delivery,
        endpoint_id=delivery.endpoint_id,
        attempted_at=now - age,
        status_code=500,
    )


def log_create(tenant: Tenant, *, now: datetime) -> Log:
    """Old rows of every kind (delivered, failed, still owed, never owed), a recent one, and an old delivery
    replayed recently."""
    endpoint = Endpoint.objects.create(tenant=tenant, url="https://receiver.example/hook", secret="whsec_" + "A" * 44)
    gone: list[object] = []
    for status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        event = _event(tenant, age=OLD, now=now)
        delivery = _delivery(endpoint, event, status, age=OLD, now=now)
        gone += [event, delivery, _attempt(delivery, age=OLD, now=now), _attempt(delivery, age=OLD, now=now)]
    owed_event = _event(tenant, age=OLD, now=now)
    owed = _delivery(endpoint, owed_event, DeliveryStatus.PENDING, age=OLD, now=now)
    gone += [_attempt(owed, age=OLD, now=now), _event(tenant, age=OLD, now=now)]  # an old try; an event nobody wanted
    recent_event = _event(tenant, age=RECENT, now=now)
    recent = _delivery(endpoint, recent_event, DeliveryStatus.DELIVERED, age=RECENT, now=now)
    replayed_event = _event(tenant, age=OLD, now=now)
    replayed = _delivery(endpoint, replayed_event, DeliveryStatus.DELIVERED, age=OLD, now=now)
    kept: list[object] = [owed_event, owed, recent_event, recent, _attempt(recent, age=RECENT, now=now)]
    kept += [replayed_event, replayed, _attempt(replayed, age=RECENT, now=now)]
    return Log(gone=gone, kept=kept)


def present(rows: list[object]) -> list[bool]:
    return [type(row)._default_manager.filter(pk=row.pk).exists() for row in rows]  # type: ignore[attr-defined]


def counts_of(run: PurgeRun) -> dict[tuple[uuid.UUID | None, str], int]:
    return {(row.tenant_id, row.kind): row.count for row in PurgeCount.objects.filter(run=run)}


@pytest.fixture
def now() -> datetime:
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def short_lived(tenant_a: Tenant) -> Tenant:
    """A tenant keeping metadata for TTL_DAYS."""
    RetentionPolicy.objects.create(tenant=tenant_a, content_max_days=30, media_days=30, metadata_days=TTL_DAYS)
    return tenant_a


@pytest.mark.django_db
def test_a_tenant_loses_its_old_delivery_log_keeps_what_is_owed_and_another_keeps_everything(
    short_lived: Tenant, tenant_b: Tenant, now: datetime
) -> None:
    log_a = log_create(short_lived, now=now)
    log_b = log_create(tenant_b, now=now)  # the default metadata lifetime (730 days) has not passed
    preview = retention_purge_preview(now=now)

    outcome = retention_purge(now=now, batch_size=2)

    assert present(log_a.gone) == [False] * len(log_a.gone)
    assert present(log_a.kept) == [True] * len(log_a.kept)
    assert present(log_b.gone + log_b.kept) == [True] * len(log_b.gone + log_b.kept)
    assert counts_of(outcome.run) == {(short_lived.pk, EVENT_LOG): len(log_a.gone)}
    assert outcome.totals()[EVENT_LOG] == len(log_a.gone)
    assert counts_of(preview.run) == counts_of(outcome.run)  # the dry run counted exactly what went
    (audited,) = AuditEvent.objects.filter(action=AuditAction.RETENTION_PURGED, tenant_id=short_lived.pk)
    assert audited.details[EVENT_LOG] == len(log_a.gone)
    assert retention_purge(now=now).totals()[EVENT_LOG] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["tenant", "contact", "none"])
def test_a_hold_in_force_anywhere_in_the_tenant_keeps_its_whole_log(
    short_lived: Tenant, now: datetime, scope: str
) -> None:
    contact = Contact.objects.create(tenant=short_lived, platform="whatsapp", external_id="15550001111")
    LegalHold.objects.create(
        tenant=short_lived,
        contact=contact if scope == "contact" else None,
        case_reference="CASE-1",
        reason="litigation",
        placed_by="test",
        released_at=now - timedelta(minutes=1) if scope == "none" else None,
        released_by="test" if scope == "none" else "",
    )
    log = log_create(short_lived, now=now)
    expected = len(log.gone) if scope == "none" else 0
    assert retention_purge_preview(now=now).totals()[EVENT_LOG] == expected

    outcome = retention_purge(now=now)

    if scope == "none":  # a released hold no longer protects
        assert present(log.gone) == [False] * len(log.gone)
    else:
        assert present(log.gone + log.kept) == [True] * len(log.gone + log.kept)
    assert outcome.totals()[EVENT_LOG] == expected


@pytest.mark.django_db
def test_the_event_numbered_last_stays_so_the_feed_never_numbers_below_a_cursor(
    short_lived: Tenant, now: datetime
) -> None:
    first, last = _event(short_lived, age=OLD, now=now), _event(short_lived, age=OLD, now=now)
    Event.objects.filter(pk=first.pk).update(sequence=1)
    Event.objects.filter(pk=last.pk).update(sequence=2)
    assert retention_purge_preview(now=now).totals()[EVENT_LOG] == 1

    retention_purge(now=now)

    assert list(Event.objects.values_list("sequence", flat=True)) == [2]


def test_policies_never_imports_events_nor_events_policies() -> None:
    graph = grimp.build_graph("gateway", "core", "audit", "encryption", "accounts", "messaging", "policies", "events")

    assert not graph.chain_exists(importer="policies", imported="events", as_packages=True)
    assert not graph.chain_exists(importer="events", imported="policies", as_packages=True)
    assert graph.chain_exists(importer="gateway", imported="events", as_packages=True)  # the graph sees events
