"""End-to-end latency (bench/events.py, phase 3): signed Meta webhooks paced into the gateway under gunicorn,
stored by the ingest workers, each ``message.received`` delivered by the events workers to the receiver.

Latency is the receiver's arrival time (``received_at`` in its recent events) minus the message's
``received_at``: the edge's time of the webhook, taken before its 200, so each figure is at most the ack's
time longer than from the 200 itself."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from _lib.cpu import CpuSample, cpu_split, session_pids
from _lib.http_load import LoadResult, Target, paced
from _lib.server import Server
from _lib.simulator import Simulator
from _lib.statistics import percentile

from _events.setup import Registered
from _events.throughput import SETTLE_TIMEOUT_SECONDS, deliveries_settle

WARMUP_RATE = 100.0  # webhooks/s of the warm-up


@dataclass(frozen=True)
class Timeline:
    """One webhook's message.received, in Unix seconds: the edge's time of the webhook, the event's insert (the
    ingest worker storing the message records it; ``Event.created_at``), its arrival at the receiver."""

    edge: float
    recorded: float
    arrived: float


@dataclass
class Latency:
    load: LoadResult
    messages: int  # stored from the paced webhooks
    delivered: int  # deliveries of their message.received events
    timelines: list[Timeline]  # one per delivered event matched to its message
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds from the first webhook to the last delivery

    @property
    def latencies(self) -> list[float]:
        return [timeline.arrived - timeline.edge for timeline in self.timelines]

    @property
    def span(self) -> float:
        """Seconds from the first message's edge time to the last arrival."""
        if not self.timelines:
            return 0.0
        return max(t.arrived for t in self.timelines) - min(t.edge for t in self.timelines)

    @property
    def drain_rate(self) -> float:
        """Events that reached the receiver per second over the phase: below the webhooks' rate, a backlog grew."""
        return len(self.timelines) / self.span if self.span > 0 else 0.0

    def percentile(self, share: float) -> float:
        return percentile(self.latencies, share)

    def part(self, share: float, *, ingest: bool) -> float:
        """The ``share`` percentile of the ingest part (edge -> recorded) or the delivery part (recorded ->
        arrived)."""
        values = [t.recorded - t.edge if ingest else t.arrived - t.recorded for t in self.timelines]
        return percentile(values, share)


def webhook_warm_up(port: int, target: Target, registered: Registered) -> None:
    """Connections, caches and both kinds of workers warmed: each warm-up body posted once, every webhook delivery
    processed and their events delivered before the phase starts (else the phase begins behind a backlog)."""
    from django.utils import timezone

    since = timezone.now()
    result = paced(port, target, WARMUP_RATE, len(target.requests) / WARMUP_RATE)
    if result.errors:
        raise RuntimeError(f"the warm-up webhooks answered errors: {dict(result.errors)}")
    webhooks_settle()
    deliveries_settle(registered, messages_since(since), event__created_at__gte=since)


def webhooks_settle(timeout: float = SETTLE_TIMEOUT_SECONDS) -> None:
    """Wait until no webhook delivery is left to process."""
    from webhooks.models import Delivery, DeliveryStatus

    deadline = time.monotonic() + timeout
    while Delivery.objects.filter(status=DeliveryStatus.RECEIVED).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up webhooks were not all processed")
        time.sleep(0.2)


def messages_since(since: datetime) -> int:
    from messaging.models import Message

    return Message.objects.filter(received_at__gte=since).count()


def run_latency(
    server: Server,
    target: Target,
    receiver: Simulator,
    registered: Registered,
    pids: dict[str, list[int]],
    *,
    rate: float,
    seconds: float,
) -> Latency:
    from django.utils import timezone

    from messaging.models import Message

    named = {"gunicorn": session_pids(server.pid), **pids}
    since = timezone.now()
    before = CpuSample.take()
    load = paced(server.port, target, rate, seconds)
    stored = wait_stored(since, load.ok)
    paced_messages = Message.objects.filter(received_at__gte=since).values("pk")
    counts = deliveries_settle(registered, stored, event__message_id__in=paced_messages)
    after = CpuSample.take()
    timelines = timelines_of(receiver_arrivals(receiver), since)
    return Latency(load, stored, counts["delivered"], timelines, cpu_split(before, after, named))


def wait_stored(since: datetime, expected: int, timeout: float = 60.0) -> int:
    """The messages the paced webhooks stored, once all ``expected`` are (or the ingest workers stop moving)."""
    deadline = time.monotonic() + timeout
    stored = messages_since(since)
    while stored < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        stored = messages_since(since)
    return stored


def receiver_arrivals(receiver: Simulator) -> dict[uuid.UUID, float]:
    """Event pk -> Unix time the receiver verified it, from its recent events."""
    recent = receiver.request("GET", "/_sim/events")["recent"]
    return {
        uuid.UUID(hex=entry["id"].removeprefix("evt_")): float(entry["received_at"])
        for entry in recent
        if entry["id"].startswith("evt_")
    }


def timelines_of(arrivals: dict[uuid.UUID, float], since: datetime) -> list[Timeline]:
    """Each event arrived whose message came in since ``since``: its message's edge time, its commit, its arrival."""
    from events.models import Event
    from messaging.models import Message

    events = Event.objects.filter(pk__in=list(arrivals)).values_list("pk", "message_id", "created_at")
    recorded = {message_id: (event_id, created_at) for event_id, message_id, created_at in events if message_id}
    received = Message.objects.filter(pk__in=list(recorded), received_at__gte=since).values_list("pk", "received_at")
    return [
        Timeline(edge.timestamp(), recorded[message_id][1].timestamp(), arrivals[recorded[message_id][0]])
        for message_id, edge in received
    ]
