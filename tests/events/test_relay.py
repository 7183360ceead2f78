"""The relay loses nothing and repeats little: an expired lease (a killed worker) is taken back, due again with the
same event; due deliveries are published when never published, when they became due after their last publish
(a retry), or when their publish is old enough to have been lost; a disabled endpoint's wait. And a delivery that
finds its endpoint's slots all taken waits without counting as an attempt, while other endpoints' go on."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Tenant
from core.db import rows_insert
from core.locks import held_slot
from core.metrics import metric_value
from events.delivery import SLOT_PREFIX
from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, Event, EventDelivery
from events.relay import events_relay
from messaging.business_events import EventType
from messaging.models import Channel
from tests.events.conftest import EndpointFactory
from tests.events.delivery_support import due_deliver, events_received_record, local_server
from tests.local_http import Reply

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def delivery(tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory) -> EventDelivery:
    endpoint_make(tenant_a)
    events_received_record(tenant_a, channel_a)
    return EventDelivery.objects.get()


def _set(delivery: EventDelivery, **fields: Any) -> None:
    EventDelivery.objects.filter(pk=delivery.pk).update(**fields)
    delivery.refresh_from_db()


def test_an_expired_lease_is_taken_back_and_published_again(delivery: EventDelivery) -> None:
    now = timezone.now()
    _set(delivery, status=DeliveryStatus.DELIVERING, attempts=1, lease_expires_at=now - timedelta(seconds=1))

    assert events_relay() == {"taken_back": 1, "published": 1}

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.lease_expires_at) == ("pending", 1, None)
    assert delivery.published_at is not None
    assert delivery.published_at >= delivery.next_attempt_at >= now


def test_a_live_lease_is_left_alone(delivery: EventDelivery) -> None:
    _set(delivery, status=DeliveryStatus.DELIVERING, attempts=1, lease_expires_at=timezone.now() + timedelta(minutes=1))

    assert events_relay() == {"taken_back": 0, "published": 0}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERING


def test_an_expired_lease_with_its_attempts_used_up_ends_failed(delivery: EventDelivery, settings: Any) -> None:
    settings.GATEWAY_EVENTS_RETRY_SCHEDULE = [1.0, 1.0]
    _set(delivery, status=DeliveryStatus.DELIVERING, attempts=3, lease_expires_at=timezone.now() - timedelta(seconds=1))

    events_relay()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


@pytest.mark.parametrize(
    ("published_ago", "due_ago", "published"),
    [
        (None, 1, 1),  # never published
        (10, 5, 1),  # published, then failed: due again since
        (5, 10, 0),  # published after it became due, recently: its task is on its way
        (60, 120, 1),  # published long ago and still pending: the task was lost
    ],
)
def test_due_deliveries_are_published_when_their_last_publish_cannot_bring_them(
    delivery: EventDelivery, settings: Any, published_ago: int | None, due_ago: int, published: int
) -> None:
    settings.GATEWAY_EVENTS_REPUBLISH_SECONDS = 30
    now = timezone.now()
    at = None if published_ago is None else now - timedelta(seconds=published_ago)
    _set(delivery, published_at=at, next_attempt_at=now - timedelta(seconds=due_ago))

    assert events_relay()["published"] == published


def test_deliveries_not_yet_due_or_of_a_disabled_endpoint_are_not_published(delivery: EventDelivery) -> None:
    _set(delivery, published_at=None, next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert events_relay()["published"] == 0

    _set(delivery, next_attempt_at=timezone.now())
    Endpoint.objects.update(is_enabled=False)
    assert events_relay()["published"] == 0


def test_an_endpoint_with_no_free_slot_waits_uncounted_while_another_endpoint_is_delivered(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    with local_server() as server:
        server.route("/slow", Reply(200))
        server.route("/fast", Reply(200))
        slow = endpoint_make(tenant_a, url=server.url("/slow"), max_in_flight=1)
        endpoint_make(tenant_a, url=server.url("/fast"))
        events_received_record(tenant_a, channel_a)
        busy_before = metric_value("gateway_event_deliveries", outcome="busy")
        with held_slot(f"{SLOT_PREFIX}:{slow.pk}", slots=1, ttl_seconds=60):  # another process is attempting
            counts = due_deliver()

    assert counts == {"busy": 1, "delivered": 1, "not_due": 0}
    assert metric_value("gateway_event_deliveries", outcome="busy") == busy_before + 1
    assert server.paths_requested() == ["/fast"]
    waiting = EventDelivery.objects.get(endpoint=slow)
    assert (waiting.status, waiting.attempts, waiting.published_at) == ("pending", 0, None)
    assert waiting.next_attempt_at > timezone.now()
    assert not DeliveryAttempt.objects.filter(endpoint=slow).exists()


def test_a_relay_batch_of_70000_deliveries_is_stamped_and_published_in_one_pass(
    tenant_a: Tenant, endpoint_make: EndpointFactory, settings: Any
) -> None:
    settings.GATEWAY_EVENTS_RELAY_BATCH = 70_000  # one statement stamps them: as many ids as parameters allowed
    endpoint, now = endpoint_make(tenant_a), timezone.now()
    events = [
        Event(id=uuid.uuid4(), tenant=tenant_a, type=EventType.MESSAGE_RECEIVED, occurred_at=now) for _ in range(70_000)
    ]
    rows_insert(events)
    rows_insert(
        [
            EventDelivery(id=uuid.uuid4(), tenant=tenant_a, event=event, endpoint=endpoint, next_attempt_at=now)
            for event in events
        ]
    )

    assert events_relay() == {"taken_back": 0, "published": 70_000}
    assert not EventDelivery.objects.filter(published_at__isnull=True).exists()
