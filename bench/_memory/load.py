"""The load between two memory readings: signed webhooks to gunicorn until all are stored and fanned out, and queued
sends published by the relay until all are accepted."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

from _dispatch.messages import messages_queue, wait_settled
from _dispatch.processes import relay_pump
from _lib.http_load import Client, run_threads
from _lib.tenants import APP_SECRET, FIXTURES, SENDER_BASE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from messaging.models import Channel

CONNECTIONS = 8
SENDERS = 200  # customers in turn, one conversation each: from one, every message would queue on one row
QUEUE_BATCH = 2000  # sends written per bulk insert
POLL_SECONDS = 0.5


class Webhooks:
    """Signed ``whatsapp_text.json`` bodies, each with a message id of its own (numbered on across calls), from
    SENDERS customers in turn."""

    def __init__(self) -> None:
        payload = json.loads((FIXTURES / "whatsapp_text.json").read_text())
        value = payload["entry"][0]["changes"][0]["value"]
        value["messages"][0]["id"] = "@ID@"
        value["messages"][0]["from"] = value["contacts"][0]["wa_id"] = "@FROM@"
        self.template = json.dumps(payload, separators=(",", ":"))
        self.serial = itertools.count()
        self.lock = threading.Lock()

    def next_request(self) -> tuple[bytes, dict[str, str]]:
        from webhooks.signature import signature_for

        with self.lock:
            index = next(self.serial)
        text = self.template.replace("@ID@", f"wamid.bench-memory-{index}")
        body = text.replace("@FROM@", str(SENDER_BASE + index % SENDERS)).encode()
        return body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature_for(APP_SECRET, body)}


def webhooks_post(port: int, path: str, webhooks: Webhooks, count: int) -> Counter[int]:
    """``count`` webhooks over CONNECTIONS keep-alive connections, as fast as they are answered: answers by status."""
    answers: Counter[int] = Counter()
    lock = threading.Lock()
    remaining = iter(range(count))

    def work(client: Client) -> None:
        mine: Counter[int] = Counter()
        for _ in _shared(remaining, lock):
            body, headers = webhooks.next_request()
            mine[client.post(path, body, headers)] += 1
        with lock:
            answers.update(mine)

    run_threads(CONNECTIONS, work, port)
    return answers


def _shared(items: Iterator[int], lock: threading.Lock) -> Iterator[int]:
    while True:
        with lock:
            item = next(items, None)
        if item is None:
            return
        yield item


def ingest_drained(seconds: float) -> int:
    """Wait until no delivery is waiting for the ingest workers; how many still wait (0 when drained)."""
    from webhooks.models import Delivery, DeliveryStatus

    deadline = time.monotonic() + seconds
    waiting = Delivery.objects.filter(status=DeliveryStatus.RECEIVED)
    while (left := waiting.count()) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    return left


def sends_run(channels: list[Channel], count: int, serial: Iterator[int], seconds: float) -> Counter[str]:
    """``count`` queued sends (in bulk, QUEUE_BATCH at a time), published by the relay and sent by the outbound
    workers; their statuses once settled (or after ``seconds``)."""
    statuses: Counter[str] = Counter()
    with relay_pump():
        for start in range(0, count, QUEUE_BATCH):
            ids = messages_queue(channels, min(QUEUE_BATCH, count - start), serial=serial)
            statuses.update(wait_settled(ids, seconds))
    return statuses
