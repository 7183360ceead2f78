"""The receiver's plain capacity and the event backlog's delivery rate (bench/events.py, phases 1 and 2)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from _lib.cpu import CpuSample, cpu_split
from _lib.http_load import Target, closed_loop
from _lib.simulator import Simulator

from _events.setup import Registered

POLL_SECONDS = 0.2
SETTLE_TIMEOUT_SECONDS = 300.0
BASELINE_CONNECTIONS = 1  # one keep-alive client, as the target is defined


def events_record(registered: Registered, count: int) -> datetime:
    """``count`` ``message.received`` events recorded in one transaction, as messaging records them; returns when
    it committed (the deliveries are handed to the publisher then)."""
    from django.db import transaction
    from django.utils import timezone

    from messaging.business_events import BusinessEvent, EventType, business_events_record

    now = timezone.now()
    events = [
        BusinessEvent(
            type=EventType.MESSAGE_RECEIVED,
            tenant_id=registered.tenant_id,
            occurred_at=now,
            channel_id=registered.channel_id,
            conversation_id=uuid.uuid4(),
            contact_id=uuid.uuid4(),
            message_id=uuid.uuid4(),
            facts={"direction": "inbound", "type": "text", "platform": "whatsapp"},
        )
        for _ in range(count)
    ]
    with transaction.atomic():
        business_events_record(events)
    return timezone.now()


def deliveries_settle(registered: Registered, count: int, **lookups: object) -> Counter[str]:
    """Poll the endpoint's deliveries that match ``lookups`` until ``count`` are delivered or failed (or the
    timeout); their counts by status."""
    from django.db.models import Count

    from events.models import DeliveryStatus, EventDelivery

    rows = EventDelivery.objects.filter(endpoint_id=registered.endpoint_id, **lookups)
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while True:
        counts = Counter({row["status"]: row["n"] for row in rows.values("status").annotate(n=Count("pk"))})
        if counts[DeliveryStatus.DELIVERED] + counts[DeliveryStatus.FAILED] >= count or time.monotonic() > deadline:
            return counts
        time.sleep(POLL_SECONDS)


def last_delivered(registered: Registered, since: datetime) -> datetime | None:
    from django.db.models import Max

    from events.models import EventDelivery

    rows = EventDelivery.objects.filter(endpoint_id=registered.endpoint_id, event__created_at__gte=since)
    last: datetime | None = rows.aggregate(last=Max("delivered_at"))["last"]
    return last


def receiver_counts(receiver: Simulator) -> tuple[int, int]:
    seen = receiver.request("GET", "/_sim/events")
    return int(seen["verified"]), int(seen["rejected"])


def event_request(registered: Registered, since: datetime) -> tuple[bytes, dict[str, str]]:
    """One recorded event's body and signed headers, as a delivery sends them: the baseline posts this."""
    from django.utils import timezone

    from events.models import Event
    from events.payloads import event_body, events_payloads
    from events.signing import signature_headers

    event = Event.objects.filter(tenant_id=registered.tenant_id, created_at__gte=since).first()
    if event is None:
        raise RuntimeError("no event was recorded")
    body = event_body(events_payloads([event], mode="thin")[0])
    headers = signature_headers(
        webhook_id=event.public_id,
        timestamp=int(timezone.now().timestamp()),
        body=body,
        secrets_in_use=[registered.secret],
    )
    return body, {"Content-Type": "application/json", **headers}


def measure_baseline(receiver: Simulator, request: tuple[bytes, dict[str, str]], seconds: float) -> float:
    """Plain POSTs of an event's size to the receiver's sink from one keep-alive client: posts/s."""
    target = Target("sink", "/_sim/sink", [request])
    result = closed_loop(receiver.port, target, seconds, BASELINE_CONNECTIONS)
    if result.errors:
        raise RuntimeError(f"the sink answered errors: {dict(result.errors)}")
    return result.rate


@dataclass
class Throughput:
    recorded: int
    seconds: float  # from the commit to the last delivery
    counts: Counter[str]
    verified: int  # by the receiver, during the phase
    rejected: int
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the phase, by process kind
    machine_busy: float = float("nan")

    @property
    def rate(self) -> float:
        return self.counts["delivered"] / self.seconds if self.seconds > 0 else 0.0

    @property
    def complete(self) -> bool:
        return self.counts["delivered"] == self.recorded == self.verified and self.rejected == 0


def run_throughput(registered: Registered, receiver: Simulator, count: int, pids: dict[str, list[int]]) -> Throughput:
    from django.utils import timezone

    verified_before, rejected_before = receiver_counts(receiver)
    since = timezone.now()
    before = CpuSample.take()
    committed = events_record(registered, count)
    counts = deliveries_settle(registered, count, event__created_at__gte=since)
    after = CpuSample.take()
    last = last_delivered(registered, since) or committed
    verified, rejected = receiver_counts(receiver)
    return Throughput(
        recorded=count,
        seconds=(last - committed).total_seconds(),
        counts=counts,
        verified=verified - verified_before,
        rejected=rejected - rejected_before,
        cpu=cpu_split(before, after, pids),
        machine_busy=after.busy - before.busy,
    )
