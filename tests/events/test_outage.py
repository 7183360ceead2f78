"""A receiver down for longer than a day, in logical time: the attempts follow the retry schedule (±20 % jitter),
and everything is delivered once it is back; an endpoint failing for longer than the limit is disabled, audited
and logged, and a replay brings the events it missed while disabled."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.models import Tenant
from audit.models import AuditAction, AuditEvent
from events import delivery as delivery_module
from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, Event, EventDelivery
from events.schedule import JITTER
from events.services import endpoint_enable, endpoint_replay
from messaging.models import Channel
from tests.clock import StoppedClock
from tests.events.conftest import EndpointFactory
from tests.events.delivery_support import due_deliver, events_received_record, local_server
from tests.local_http import LocalServer, Reply

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> StoppedClock:
    stopped = StoppedClock(datetime.now(UTC) + timedelta(minutes=1))  # past the rows made now
    monkeypatch.setattr(delivery_module, "timezone", stopped)
    return stopped


def _next_due(endpoint: Endpoint) -> datetime | None:
    pending = EventDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).order_by("next_attempt_at")
    first = pending.first()
    return first.next_attempt_at if first else None


def _run_until(clock: StoppedClock, endpoint: Endpoint, server: LocalServer, *, back_at: datetime | None) -> None:
    """Attempt what is due, moving the clock to the next due time, until nothing is pending or it is disabled."""
    while (due := _next_due(endpoint)) is not None and Endpoint.objects.get(pk=endpoint.pk).is_enabled:
        clock.at = max(clock.at, due)
        if back_at is not None and clock.at >= back_at:
            server.route("/hook", Reply(200))
        due_deliver()


def _gaps(delivery: EventDelivery) -> list[float]:
    times = list(delivery.attempt_log.order_by("attempted_at").values_list("attempted_at", flat=True))
    return [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]


def test_a_receiver_down_for_over_a_day_gets_attempts_on_the_schedule_then_everything(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, clock: StoppedClock
) -> None:
    schedule = django_settings.GATEWAY_EVENTS_RETRY_SCHEDULE
    back_at = clock.at + timedelta(days=1, minutes=1)
    with local_server() as server:
        server.route("/hook", Reply(500))
        endpoint = endpoint_make(tenant_a, url=server.url("/hook"))
        events_received_record(tenant_a, channel_a, count=3)
        _run_until(clock, endpoint, server, back_at=back_at)

    deliveries = list(EventDelivery.objects.all())
    assert {delivery.status for delivery in deliveries} == {DeliveryStatus.DELIVERED}
    for delivery in deliveries:
        gaps = _gaps(delivery)
        assert len(gaps) >= 6
        for gap, step in zip(gaps, schedule, strict=False):
            assert step * (1 - JITTER) <= gap <= step * (1 + JITTER)
        log = list(delivery.attempt_log.order_by("attempted_at"))
        assert all(attempt.status_code == 500 for attempt in log[:-1])
        assert (log[-1].status_code, log[-1].attempted_at >= back_at) == (200, True)
    accepted = [seen.headers["webhook-id"] for seen in server.requests][-3:]
    assert sorted(accepted) == sorted(event.public_id for event in Event.objects.all())
    endpoint.refresh_from_db()
    assert (endpoint.is_enabled, endpoint.failing_since) == (True, None)


def test_an_endpoint_failing_past_the_limit_is_disabled_and_alerted_and_replay_brings_what_it_missed(
    tenant_a: Tenant,
    channel_a: Channel,
    endpoint_make: EndpointFactory,
    clock: StoppedClock,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.GATEWAY_EVENTS_DISABLE_AFTER_HOURS = 24
    with local_server() as server, caplog.at_level(logging.WARNING, logger="events"):
        server.route("/hook", Reply(500))
        endpoint = endpoint_make(tenant_a, url=server.url("/hook"))
        events_received_record(tenant_a, channel_a)
        _run_until(clock, endpoint, server, back_at=None)

        endpoint.refresh_from_db()
        first_failure = DeliveryAttempt.objects.order_by("attempted_at").first()
        assert first_failure is not None
        assert endpoint.is_enabled is False
        assert endpoint.disabled_at is not None
        assert endpoint.disabled_at - first_failure.attempted_at >= timedelta(hours=24)
        audit = AuditEvent.objects.get(action=AuditAction.EVENT_ENDPOINT_DISABLED)
        assert (audit.target_id, audit.details) == (str(endpoint.pk), {"reason": "failing"})
        assert "event endpoint disabled" in caplog.text

        missed_from = timezone.now()
        events_received_record(tenant_a, channel_a, count=4)  # while disabled: nothing is owed to it
        missed_until = timezone.now()
        assert EventDelivery.objects.count() == 1

        server.route("/hook", Reply(200))
        assert endpoint_enable(endpoint) == 1
        assert endpoint_replay(endpoint, since=missed_from, until=missed_until) == 4
        _run_until(clock, endpoint, server, back_at=None)

    assert EventDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 5
    delivered_ids = {seen.headers["webhook-id"] for seen in server.requests[-5:]}
    assert delivered_ids == {event.public_id for event in Event.objects.all()}
