"""One slow consumer holds no more than its endpoint's ``max_in_flight`` attempts at once, across worker processes,
and the other endpoints' deliveries go on meanwhile: two real ``celery worker -Q events`` processes of four threads
each, an endpoint that takes its time answering with max_in_flight 2, and a quick one."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from accounts.models import Tenant
from events.models import DeliveryStatus, EventDelivery
from events.relay import events_relay
from messaging.models import Channel
from tests.conftest import wait_for, worker_process
from tests.events.conftest import EndpointFactory
from tests.events.delivery_support import events_received_record
from tests.local_http import LocalServer, Reply, Seen

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EVENTS = 30
SLOW_HOLD_SECONDS = 0.3
WORKER_ENV = {"GATEWAY_LOG_LEVEL": "WARNING", "GATEWAY_EVENTS_BUSY_DELAY_SECONDS": "0.1"}


class CountingReceiver(LocalServer):
    """Holds each request to /slow a while, counting how many it holds at once; answers 200."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = 0
        self.most_held = 0
        self.finished: list[str] = []
        self._count_lock = threading.Lock()

    def answer(self, seen: Seen) -> Reply:
        if seen.path == "/slow":
            with self._count_lock:
                self.holding += 1
                self.most_held = max(self.most_held, self.holding)
            time.sleep(SLOW_HOLD_SECONDS)
            with self._count_lock:
                self.holding -= 1
        with self._count_lock:
            self.finished.append(seen.path)
        return Reply(200)


def _relay_until_delivered() -> bool:
    def delivered() -> bool:
        events_relay()
        return EventDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 2 * EVENTS

    return wait_for(delivered, seconds=300)


def test_a_slow_endpoint_holds_at_most_its_slots_and_the_others_go_on(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, settings: Any
) -> None:
    settings.GATEWAY_EVENTS_REPUBLISH_SECONDS = 5
    receiver = CountingReceiver()
    receiver.start()
    try:
        endpoint_make(tenant_a, url=receiver.url("/slow"), max_in_flight=2)
        endpoint_make(tenant_a, url=receiver.url("/quick"))
        with (
            worker_process("events", env=WORKER_ENV, pool="threads", concurrency=4),
            worker_process("events", env=WORKER_ENV, pool="threads", concurrency=4),
        ):
            events_received_record(tenant_a, channel_a, count=EVENTS)
            assert _relay_until_delivered()
    finally:
        receiver.stop()

    assert 1 <= receiver.most_held <= 2
    last_quick = max(index for index, path in enumerate(receiver.finished) if path == "/quick")
    last_slow = max(index for index, path in enumerate(receiver.finished) if path == "/slow")
    assert last_quick < last_slow  # the quick endpoint never waited for the slow one
