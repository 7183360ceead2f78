"""What an answer does: 2xx delivers and clears the endpoint's failure clock; 410 disables the endpoint, audited;
429 and 503 wait as Retry-After says (bounded); a redirect is a failure and is never followed; other failures
follow the schedule; the log keeps a short excerpt of the answer, never our own body."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.utils import timezone

from accounts.models import Tenant
from audit.models import AuditAction, AuditEvent
from events import delivery as delivery_module
from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, EventDelivery
from events.transport import ECHOED, EXCERPT_CHARS
from messaging.models import Channel
from tests.clock import StoppedClock
from tests.events.conftest import EndpointFactory
from tests.events.delivery_support import due_deliver, events_received_record, local_server
from tests.local_http import Reply, Seen

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> StoppedClock:
    stopped = StoppedClock(datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1))  # past the rows made now
    monkeypatch.setattr(delivery_module, "timezone", stopped)
    return stopped


def _one_attempt(tenant: Tenant, channel: Channel, endpoint_make: EndpointFactory, *replies: Reply) -> Endpoint:
    with local_server() as server:
        server.route("/hook", *replies)
        endpoint = endpoint_make(tenant, url=server.url("/hook"))
        events_received_record(tenant, channel)
        due_deliver()
    return endpoint


def test_a_success_delivers_and_clears_the_endpoints_failure_clock(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    with local_server() as server:
        server.route("/hook", Reply(200, b'{"ok":true}'))
        endpoint = endpoint_make(tenant_a, url=server.url("/hook"), failing_since=timezone.now())
        events_received_record(tenant_a, channel_a)
        due_deliver()

    delivery = EventDelivery.objects.get()
    attempt = DeliveryAttempt.objects.get()
    endpoint.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.delivered_at is not None) == ("delivered", 1, True)
    assert (attempt.status_code, attempt.error, attempt.response_excerpt) == (200, "", '{"ok":true}')
    assert attempt.next_attempt_at is None
    assert endpoint.failing_since is None


def test_410_disables_the_endpoint_with_an_audit_event_and_its_deliveries_wait(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    endpoint = _one_attempt(tenant_a, channel_a, endpoint_make, Reply(410))

    endpoint.refresh_from_db()
    assert (endpoint.is_enabled, endpoint.disabled_at is not None) == (False, True)
    assert "410" in endpoint.disabled_reason
    audit = AuditEvent.objects.get(action=AuditAction.EVENT_ENDPOINT_DISABLED)
    assert (audit.tenant_id, audit.target_id, audit.details) == (tenant_a.pk, str(endpoint.pk), {"reason": "gone"})
    assert EventDelivery.objects.get().status == DeliveryStatus.PENDING
    assert due_deliver() == {"not_due": 1}  # a disabled endpoint's deliveries are not attempted


def test_429_with_retry_after_in_seconds_waits_that_long(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, clock: StoppedClock
) -> None:
    _one_attempt(tenant_a, channel_a, endpoint_make, Reply(429, headers={"Retry-After": "120"}))

    delivery = EventDelivery.objects.get()
    assert (delivery.status, delivery.next_attempt_at) == ("pending", clock.at + timedelta(seconds=120))
    assert DeliveryAttempt.objects.get().next_attempt_at == clock.at + timedelta(seconds=120)


def test_503_with_retry_after_as_an_http_date_waits_until_then_and_a_huge_one_is_bounded(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, clock: StoppedClock, settings: object
) -> None:
    settings.GATEWAY_EVENTS_RETRY_AFTER_MAX_SECONDS = 3600  # type: ignore[attr-defined]
    at = format_datetime(clock.at + timedelta(minutes=10), usegmt=True)
    _one_attempt(tenant_a, channel_a, endpoint_make, Reply(503, headers={"Retry-After": at}))
    assert EventDelivery.objects.get().next_attempt_at == clock.at + timedelta(minutes=10)

    Endpoint.objects.all().delete()
    _one_attempt(tenant_a, channel_a, endpoint_make, Reply(429, headers={"Retry-After": "864000"}))
    assert EventDelivery.objects.get().next_attempt_at == clock.at + timedelta(hours=1)


def test_a_500_is_retried_on_the_schedule_with_jitter_and_marks_the_endpoint_failing(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, clock: StoppedClock
) -> None:
    endpoint = _one_attempt(tenant_a, channel_a, endpoint_make, Reply(500, b"upstream broke"))

    delivery = EventDelivery.objects.get()
    wait = (delivery.next_attempt_at - clock.at).total_seconds()
    assert delivery.status == DeliveryStatus.PENDING
    assert 4.0 <= wait <= 6.0  # the first step, 5 s, ±20 %
    assert DeliveryAttempt.objects.get().response_excerpt == "upstream broke"
    endpoint.refresh_from_db()
    assert endpoint.failing_since == clock.at


def test_a_redirect_is_a_failure_and_its_target_is_never_requested(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    with local_server() as server:
        server.route("/hook", Reply(302, headers={"Location": server.url("/elsewhere")}))
        server.route("/elsewhere", Reply(200))
        endpoint_make(tenant_a, url=server.url("/hook"))
        events_received_record(tenant_a, channel_a)
        due_deliver()

    assert server.paths_requested() == ["/hook"]
    assert (EventDelivery.objects.get().status, DeliveryAttempt.objects.get().status_code) == ("pending", 302)


def test_the_log_keeps_a_short_excerpt_of_the_answer_and_never_our_body_echoed_back(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    _one_attempt(tenant_a, channel_a, endpoint_make, Reply(400, b"x" * 100_000))
    assert DeliveryAttempt.objects.get().response_excerpt == "x" * EXCERPT_CHARS

    Endpoint.objects.all().delete()
    with local_server() as server:
        endpoint_make(tenant_a, url=server.url("/echo"))
        events_received_record(tenant_a, channel_a)
        server.route("/echo", Reply(400))
        original_answer = server.answer

        def echo(seen: Seen) -> Reply:
            original_answer(seen)
            return Reply(400, b"you sent: " + seen.body)

        server.answer = echo  # type: ignore[method-assign]
        due_deliver()
    assert DeliveryAttempt.objects.get().response_excerpt == ECHOED


def test_retries_used_up_end_failed(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, settings: object
) -> None:
    settings.GATEWAY_EVENTS_RETRY_SCHEDULE = [0.0, 0.0]  # type: ignore[attr-defined]
    with local_server() as server:
        server.route("/hook", Reply(500))
        endpoint_make(tenant_a, url=server.url("/hook"))
        events_received_record(tenant_a, channel_a)
        for _ in range(4):
            due_deliver()

    delivery = EventDelivery.objects.get()
    assert (delivery.status, delivery.attempts, len(server.requests)) == ("failed", 3, 3)
