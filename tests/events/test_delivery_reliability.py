"""Never lost: 5,000 events to two subscribed endpoints, a receiver that answers 500 to 20 % of attempts and hangs
past the read timeout for 5 %, and the events worker (a real ``celery worker -Q events``, four threads) killed with
SIGKILL ten times at random moments and started again, the relay running meanwhile. Every event reaches each
subscribed endpoint, verified with the ``standardwebhooks`` package as it arrives; a webhook-id is accepted more
than once only for the attempts of a batch in flight at a kill (a batch's outcomes are written together, once its
POSTs are made); the endpoint that did not subscribe receives nothing."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from accounts.models import Tenant
from core.tasks import BATCH_MAX
from events.models import DeliveryStatus, Event, EventDelivery
from events.relay import events_relay
from events.signing import endpoint_secret_new
from messaging.business_events import EventType
from messaging.models import Channel
from tests.conftest import worker_process
from tests.events.conftest import EndpointFactory
from tests.events.delivery_support import events_received_record
from tests.local_http import LocalServer, Reply, Seen

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EVENTS = 5000
KILLS = 10
WORKER_THREADS = 4
READ_TIMEOUT = 0.5
WORKER_ENV = {
    "GATEWAY_LOG_LEVEL": "WARNING",
    "GATEWAY_EVENTS_CONNECT_TIMEOUT": "1",
    "GATEWAY_EVENTS_READ_TIMEOUT": str(READ_TIMEOUT),
    "GATEWAY_EVENTS_LEASE_SECONDS": "5",
    "GATEWAY_EVENTS_BUSY_DELAY_SECONDS": "0.2",
    "GATEWAY_EVENTS_RETRY_SCHEDULE": ",".join(["0.2"] * 30),  # 0.2 s steps: the failures, not the waits, are tested
}


class FlakyReceiver(LocalServer):
    """Answers 500 to 20 % of requests, hangs past the read timeout (then 504) for 5 %, else verifies the delivery
    with the endpoint's secret and accepts it (200)."""

    def __init__(self, secrets_by_path: dict[str, str]) -> None:
        super().__init__()
        self.secrets_by_path = secrets_by_path
        self.accepted: Counter[tuple[str, str]] = Counter()
        self.unverified = 0
        self._dice = random.Random(18)

    def answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(Seen(seen.method, seen.path, seen.headers, b""))
            roll = self._dice.random()
        if roll < 0.20:
            return Reply(500)
        if roll < 0.25:
            return Reply(504, delay=READ_TIMEOUT + 0.3)
        try:
            Webhook(self.secrets_by_path[seen.path]).verify(seen.body, seen.headers)
        except (WebhookVerificationError, KeyError):
            with self._lock:
                self.unverified += 1
            return Reply(400)
        with self._lock:
            self.accepted[(seen.path, seen.headers["webhook-id"])] += 1
        return Reply(200)


def _all_delivered() -> bool:
    return EventDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 2 * EVENTS


def _work_until(moment: float) -> None:
    """Run the relay every half second until ``moment`` or until everything is delivered."""
    while time.monotonic() < moment and not _all_delivered():
        events_relay()
        time.sleep(0.5)


def test_every_event_reaches_each_subscribed_endpoint_through_ten_kills(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, settings: Any
) -> None:
    settings.GATEWAY_EVENTS_REPUBLISH_SECONDS = 15
    secrets = {path: endpoint_secret_new() for path in ("/one", "/two", "/other")}
    receiver = FlakyReceiver(secrets)
    receiver.start()
    try:
        for path in ("/one", "/two"):
            endpoint_make(tenant_a, url=receiver.url(path), secret=secrets[path])
        endpoint_make(tenant_a, url=receiver.url("/other"), secret=secrets["/other"], types=[EventType.MESSAGE_STATUS])
        for _ in range(EVENTS // 1000):
            events_received_record(tenant_a, channel_a, count=1000)

        kills, dice, give_up = 0, random.Random(9), time.monotonic() + 900
        while not _all_delivered() and time.monotonic() < give_up:
            with worker_process("events", env=WORKER_ENV, pool="threads", concurrency=WORKER_THREADS) as worker:
                _work_until(time.monotonic() + 3 + dice.uniform(0, 4) if kills < KILLS else give_up)
                if kills < KILLS and not _all_delivered():
                    worker.kill()  # SIGKILL: no ack, no outcome recorded for what was in flight
                    worker.wait()
                    kills += 1
    finally:
        receiver.stop()

    expected = {(path, event.public_id) for event in Event.objects.all() for path in ("/one", "/two")}
    duplicates = sum(count - 1 for count in receiver.accepted.values())
    assert kills == KILLS
    assert _all_delivered()
    assert set(receiver.accepted) == expected  # each webhook-id at least once at each subscribed endpoint
    assert duplicates <= kills * WORKER_THREADS * BATCH_MAX  # only the attempts of batches in flight at a kill
    assert receiver.unverified == 0
    assert [seen for seen in receiver.requests if seen.path == "/other"] == []
    assert not EventDelivery.objects.filter(endpoint__url=receiver.url("/other")).exists()
