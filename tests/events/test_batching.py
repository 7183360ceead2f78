"""Deliveries go in batches: one statement leases a batch's due deliveries, each carries its own signed event, the
outcomes are written with a number of statements that does not grow with the batch, the endpoint's health follows
the batch's answers in their order, and what a batch could not attempt within its lease is given back uncounted.

And the attempt-ownership race is closed: a worker that stalled past its lease, while the delivery was replayed
(attempts counted from zero again) and leased anew, has its outcome refused; the new holder's counts."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Tenant
from events import delivery as delivery_module
from events.leasing import deliveries_lease
from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, Event, EventDelivery
from events.outcomes import Attempted, outcomes_record
from events.relay import events_relay
from events.services import event_replay
from events.transport import Outcome
from messaging.models import Channel
from tests.events.conftest import EndpointFactory
from tests.events.delivery_support import due_deliver, events_received_record, local_server, signature_verifies
from tests.local_http import Reply

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OK = Outcome(200, "", 3, "", None)
SERVER_ERROR = Outcome(500, "", 3, "", None)


def _delivered_with_statements(
    tenant: Tenant, channel: Channel, endpoint_make: EndpointFactory, count: int
) -> tuple[int, list[Any]]:
    """``count`` events delivered to a fresh endpoint in one batch: the statements it took and what arrived."""
    EventDelivery.objects.all().delete()
    Endpoint.objects.all().delete()
    with local_server() as server:
        server.route("/hook", Reply(200))
        endpoint_make(tenant, url=server.url("/hook"), secret=SECRET)
        events_received_record(tenant, channel, count=count)
        with CaptureQueriesContext(connection) as queries:
            counts = due_deliver()
    assert counts == {"delivered": count, "not_due": 0}
    return len(queries), server.requests


def test_a_batch_takes_as_many_statements_for_twelve_deliveries_as_for_two_and_signs_each_event(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    two, _ = _delivered_with_statements(tenant_a, channel_a, endpoint_make, 2)
    twelve, seen = _delivered_with_statements(tenant_a, channel_a, endpoint_make, 12)

    assert twelve == two
    assert all(signature_verifies(request, SECRET) for request in seen)
    assert len({request.headers["webhook-id"] for request in seen}) == 12
    assert {f"evt_{event_id.hex}" for event_id in Event.objects.values_list("pk", flat=True)} >= {
        request.headers["webhook-id"] for request in seen
    }
    assert DeliveryAttempt.objects.filter(status_code=200).count() == 12
    assert set(EventDelivery.objects.values_list("status", "attempts", "lease_token")) == {("delivered", 1, None)}


def test_one_statement_leases_only_the_deliveries_still_pending_and_due(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    endpoint_make(tenant_a)
    events_received_record(tenant_a, channel_a, count=3)
    due, later, taken = EventDelivery.objects.order_by("pk")
    now = timezone.now()
    EventDelivery.objects.filter(pk=later.pk).update(next_attempt_at=now + timedelta(minutes=5))
    EventDelivery.objects.filter(pk=taken.pk).update(status=DeliveryStatus.DELIVERING, attempts=1)

    with CaptureQueriesContext(connection) as queries:
        lease = deliveries_lease([due.pk, later.pk, taken.pk], now=now, seconds=60)

    assert (len(queries), dict(lease.attempts)) == (1, {due.pk: 1})
    due.refresh_from_db()
    assert (due.status, due.lease_token, due.lease_expires_at) == ("delivering", lease.token, lease.expires_at)
    assert EventDelivery.objects.get(pk=taken.pk).lease_token is None


def test_a_stale_holders_outcome_is_refused_after_a_replay_and_a_new_lease(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    events_received_record(tenant_a, channel_a)
    delivery = EventDelivery.objects.select_related("event").get()
    stalled = deliveries_lease([delivery.pk], now=timezone.now(), seconds=60)
    # The stalled worker's lease runs out, the relay takes the delivery back, an operator replays it (attempts
    # from zero) and another worker leases it: the attempt count alone cannot tell the two holders apart.
    EventDelivery.objects.filter(pk=delivery.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    events_relay()
    event_replay(delivery.event, endpoint)
    current = deliveries_lease([delivery.pk], now=timezone.now(), seconds=60)
    assert stalled.attempts == current.attempts == {delivery.pk: 1}

    late = outcomes_record(
        endpoint, [Attempted(delivery, 1, timezone.now(), SERVER_ERROR)], token=stalled.token, now=timezone.now()
    )

    assert late == ["stale"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.lease_token) == ("delivering", current.token)
    assert DeliveryAttempt.objects.get().status_code == 500  # the late attempt was made, so it is logged

    assert outcomes_record(
        endpoint, [Attempted(delivery, 1, timezone.now(), OK)], token=current.token, now=timezone.now()
    ) == ["delivered"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.lease_token, delivery.lease_expires_at) == ("delivered", None, None)


@pytest.mark.parametrize(
    ("answers", "clock"),
    [
        ((OK, SERVER_ERROR), "restarted"),  # failing again since the batch's last success
        ((SERVER_ERROR, OK), "cleared"),  # ends on a success
        ((SERVER_ERROR, SERVER_ERROR), "kept"),  # the clock already running keeps its start
    ],
)
def test_the_endpoints_health_follows_the_batchs_answers_in_their_order(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, answers: tuple[Outcome, ...], clock: str
) -> None:
    failing_since = timezone.now() - timedelta(hours=1)
    endpoint = endpoint_make(tenant_a, failing_since=failing_since)
    events_received_record(tenant_a, channel_a, count=2)
    deliveries = list(EventDelivery.objects.order_by("pk"))
    lease = deliveries_lease([delivery.pk for delivery in deliveries], now=timezone.now(), seconds=60)
    now = timezone.now()

    outcomes_record(
        endpoint,
        [Attempted(delivery, 1, now, answer) for delivery, answer in zip(deliveries, answers, strict=True)],
        token=lease.token,
        now=now,
    )

    endpoint.refresh_from_db()
    assert endpoint.failing_since == {"restarted": now, "cleared": None, "kept": failing_since}[clock]


def test_deliveries_whose_turn_comes_too_late_for_the_lease_are_given_back_uncounted(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.GATEWAY_EVENTS_LEASE_SECONDS = 60
    settings.GATEWAY_EVENTS_CONNECT_TIMEOUT, settings.GATEWAY_EVENTS_READ_TIMEOUT = 5.0, 15.0
    ticks = iter(range(0, 10_000, 30))  # each look at the clock, 30 s later: the second delivery's turn is too late
    monkeypatch.setattr(delivery_module, "time", SimpleNamespace(monotonic=lambda: float(next(ticks))))
    with local_server() as server:
        server.route("/hook", Reply(200))
        endpoint_make(tenant_a, url=server.url("/hook"))
        events_received_record(tenant_a, channel_a, count=3)
        first = EventDelivery.objects.order_by("created_at", "pk").first()
        counts = due_deliver()

    assert counts == {"delivered": 1, "released": 2, "not_due": 0}
    assert len(server.requests) == 1
    rows = {row.pk: row for row in EventDelivery.objects.all()}
    assert first is not None and rows.pop(first.pk).status == DeliveryStatus.DELIVERED
    assert {(row.status, row.attempts, row.lease_token, row.published_at) for row in rows.values()} == {
        ("pending", 0, None, None)
    }
    assert DeliveryAttempt.objects.count() == 1
