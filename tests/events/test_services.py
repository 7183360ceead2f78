"""The services the API and the admin call: replay one event or a range, resend what failed, send a test event,
enable an endpoint again, its backlog, and the purge of the delivery log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Tenant
from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, Event, EventDelivery
from events.services import (
    CrossTenantError,
    endpoint_backlog,
    endpoint_enable,
    endpoint_failed_resend,
    endpoint_replay,
    endpoint_test_send,
    event_replay,
    events_log_purge,
)
from messaging.business_events import EventType
from messaging.models import Channel
from tests.events.conftest import EndpointFactory, channel_for
from tests.events.delivery_support import due_deliver, events_received_record, local_server
from tests.local_http import Reply

pytestmark = pytest.mark.django_db(transaction=True)


def test_replaying_a_delivered_event_starts_it_again_and_one_never_owed_gets_a_delivery(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    subscribed = endpoint_make(tenant_a)
    events_received_record(tenant_a, channel_a)
    event = Event.objects.get()
    EventDelivery.objects.update(status=DeliveryStatus.DELIVERED, attempts=3, delivered_at=timezone.now())
    later = endpoint_make(tenant_a, types=[EventType.MESSAGE_STATUS.value])

    again = event_replay(event, subscribed)
    first = event_replay(event, later)

    assert (again.status, again.attempts, again.delivered_at) == ("pending", 0, None)
    assert (first.status, first.endpoint_id, first.event_id) == ("pending", later.pk, event.pk)


def test_an_event_is_never_replayed_to_another_tenants_endpoint(
    tenant_a: Tenant, tenant_b: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    events_received_record(tenant_a, channel_a)
    with pytest.raises(CrossTenantError):
        event_replay(Event.objects.get(), endpoint_make(tenant_b))
    assert not EventDelivery.objects.exists()


def test_a_range_replay_brings_the_endpoints_subscription_only(
    tenant_a: Tenant, tenant_b: Tenant, channel_a: Channel, channel_b: Channel, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a, channel=channel_a)
    since = timezone.now()
    events_received_record(tenant_a, channel_a, count=3)
    events_received_record(tenant_a, channel_for(tenant_a, "1009"))  # another channel
    events_received_record(tenant_b, channel_b)  # another tenant
    until = timezone.now()
    events_received_record(tenant_a, channel_a)  # after the range
    EventDelivery.objects.update(status=DeliveryStatus.DELIVERED)

    assert endpoint_replay(endpoint, since=since, until=until) == 3
    assert EventDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 3


def test_failed_deliveries_are_resent_and_others_left_alone(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    events_received_record(tenant_a, channel_a, count=3)
    first, second, third = EventDelivery.objects.order_by("pk")
    EventDelivery.objects.filter(pk__in=[first.pk, second.pk]).update(status=DeliveryStatus.FAILED, attempts=9)
    EventDelivery.objects.filter(pk=third.pk).update(status=DeliveryStatus.DELIVERED)

    assert endpoint_failed_resend(endpoint) == 2
    statuses = dict(EventDelivery.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "pending", second.pk: "pending", third.pk: "delivered"}


def test_a_test_event_is_a_ping_for_that_endpoint_alone(tenant_a: Tenant, endpoint_make: EndpointFactory) -> None:
    with local_server() as server:
        server.route("/hook", Reply(200))
        endpoint = endpoint_make(tenant_a, url=server.url("/hook"), types=[EventType.PING.value])
        other = endpoint_make(tenant_a, url=server.url("/other"), types=[EventType.PING.value])
        delivery = endpoint_test_send(endpoint)
        due_deliver()

    (seen,) = server.requests
    assert (seen.path, json.loads(seen.body)["type"]) == ("/hook", "ping")
    assert delivery.endpoint_id == endpoint.pk
    assert not EventDelivery.objects.filter(endpoint=other).exists()


def test_enabling_an_endpoint_again_makes_its_waiting_deliveries_due(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    events_received_record(tenant_a, channel_a, count=2)
    Endpoint.objects.update(is_enabled=False, disabled_reason="gone", failing_since=timezone.now())
    EventDelivery.objects.update(next_attempt_at=timezone.now() + timedelta(days=1))

    assert endpoint_enable(endpoint) == 2
    assert (endpoint.is_enabled, endpoint.disabled_reason, endpoint.failing_since) == (True, "", None)
    assert not EventDelivery.objects.filter(next_attempt_at__gt=timezone.now()).exists()


def test_the_backlog_counts_whats_waiting_its_age_and_the_success_rate_of_a_day(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    assert endpoint_backlog(endpoint).success_rate_24h is None
    with local_server() as server:
        server.route("/hook", Reply(500), Reply(200))
        Endpoint.objects.update(url=server.url("/hook"))
        events_received_record(tenant_a, channel_a, count=2)
        due_deliver()
    EventDelivery.objects.filter(status=DeliveryStatus.PENDING).update(created_at=timezone.now() - timedelta(hours=2))

    backlog = endpoint_backlog(endpoint)

    assert (backlog.pending, backlog.attempts_24h, backlog.success_rate_24h) == (1, 2, 0.5)
    assert backlog.oldest_undelivered_age is not None
    assert backlog.oldest_undelivered_age >= timedelta(hours=2)


def test_the_log_purge_removes_old_finished_rows_and_keeps_what_is_still_owed(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    with local_server() as server:
        server.route("/hook", Reply(200))
        endpoint_make(tenant_a, url=server.url("/hook"))
        events_received_record(tenant_a, channel_a, count=2)
        due_deliver()
    events_received_record(tenant_a, channel_a)  # still owed
    owed = EventDelivery.objects.get(status=DeliveryStatus.PENDING)
    before = timezone.now() + timedelta(seconds=1)

    while events_log_purge(tenant_a.pk, before, batch=1):
        pass

    assert not DeliveryAttempt.objects.exists()
    assert list(EventDelivery.objects.values_list("pk", flat=True)) == [owed.pk]
    assert list(Event.objects.values_list("pk", flat=True)) == [owed.event_id]
