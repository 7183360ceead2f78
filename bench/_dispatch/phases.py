"""The measured phases of bench/dispatch.py: the queued backlog, the paced writes and the in-process cost per send
(the floor's phase is floor.py's)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from _lib.cpu import CpuSample, cpu_split
from _lib.simulator import Simulator

from _dispatch.messages import (
    Recipient,
    Timings,
    message_queue_one,
    messages_queue,
    recipients_create,
    timings,
    wait_settled,
)
from _dispatch.processes import relay_pump

if TYPE_CHECKING:
    from messaging.models import Channel

SETTLE_TIMEOUT_SECONDS = 180.0
IN_PROCESS_SINGLE = 60
WRITER_THREADS = 4  # the paced writes, as concurrent API requests: one thread's round trips cannot keep 75/s
IN_PROCESS_BATCHED = 320


def channels_rate_set(channels: list[Channel], rate: int) -> None:
    """Every channel's ``max_messages_per_second`` (the workers read it with each batch's lease)."""
    from messaging.models import Channel

    Channel.objects.filter(pk__in=[channel.pk for channel in channels]).update(max_messages_per_second=rate)
    for channel in channels:
        channel.max_messages_per_second = rate


@dataclass
class Throughput:
    queued: int
    seconds: float
    counts: Counter[str]
    timing: Timings
    per_second_max: dict[str, int]
    sim_accepted: int
    duplicates: int
    errors: dict[str, int]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the run, by process group
    machine_busy: float = float("nan")  # CPU seconds of the whole machine during the run

    @property
    def rate(self) -> float:
        return len(self.timing.accepted_at) / self.seconds if self.seconds else 0.0


def run_throughput(
    channels: list[Channel], sim: Simulator, count: int, serial: Iterator[int], pids: dict[str, list[int]]
) -> Throughput:
    """``count`` messages queued at once, published by the relay (its process must be running), sent by the
    workers; timed from the first publish to the last acceptance."""
    from messaging.outbound.dispatch.relay import outbox_relay

    ids = messages_queue(channels, count, serial=serial)
    sim.webhooks_idle()
    return throughput_measured(
        sim,
        count,
        pids,
        publish=lambda at: outbox_relay(now=at, grace=timedelta(0)),  # the first; the relay process does the rest
        settle=lambda: wait_settled(ids, SETTLE_TIMEOUT_SECONDS),
        timings_of=lambda at: timings(ids, queued_at=at),
    )


def throughput_measured(
    sim: Simulator,
    count: int,
    pids: dict[str, list[int]],
    *,
    publish: Callable[[datetime], object],
    settle: Callable[[], Counter[str]],
    timings_of: Callable[[datetime], Timings],
) -> Throughput:
    """One throughput run of ``count`` queued sends: the simulator's counts zeroed, ``publish`` at the start,
    ``settle`` waited for, then the timings, the simulator's per-channel peaks and the CPU by process kind."""
    from django.utils import timezone

    sim.request("DELETE", "/_sim/sends")  # the earlier phases' counts out of the histogram
    before = CpuSample.take()
    published_at = timezone.now()
    publish(published_at)
    counts = settle()
    after = CpuSample.take()
    timing = timings_of(published_at)
    last = max(timing.accepted_at, default=published_at)
    sends = sim.request("GET", "/_sim/sends?ids=false")
    return Throughput(
        queued=count,
        seconds=(last - published_at).total_seconds(),
        counts=counts,
        timing=timing,
        per_second_max={key: int(value) for key, value in sends["max_per_second"].items()},
        sim_accepted=int(sends["accepted_total"]),
        duplicates=len(sends["duplicates"]),
        errors={str(key): int(value) for key, value in sends["errors"].items()},
        cpu=cpu_split(before, after, pids),
        machine_busy=after.busy - before.busy,
    )


@dataclass
class Paced:
    """The paced phase: each round's timings (consecutive slices of the messages, in the order written), the rate
    the writer reached and how many it wrote."""

    rounds: list[Timings]
    rate: float
    written: int

    @property
    def pooled(self) -> Timings:
        pooled = Timings()
        for timing in self.rounds:
            pooled.latencies.extend(timing.latencies)
            pooled.accepted_at.extend(timing.accepted_at)
            pooled.attempts.update(timing.attempts)
        return pooled


def run_paced(channels: list[Channel], rate: float, seconds: float, serial: Iterator[int], rounds: int) -> Paced:
    """Messages written one at a time at ``rate`` per second, channels taking turns, by WRITER_THREADS threads
    as the send API's own threads would (each message at its scheduled moment), with beat's relay (its own grace:
    the send API's publish on commit is the way in); their timings in ``rounds`` consecutive slices."""
    from messaging.outbound.dispatch.relay import RELAY_GRACE

    total = max(rounds, int(rate * seconds))
    recipients = recipients_create(channels, total, serial=serial)  # untimed, as the customers exist beforehand
    ids: list[uuid.UUID | None] = [None] * total
    started = time.perf_counter()
    with relay_pump(RELAY_GRACE):
        writers = [
            threading.Thread(target=_write_paced, args=(recipients, ids, offset, started, rate), daemon=True)
            for offset in range(WRITER_THREADS)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        written = time.perf_counter() - started
        done = [message_id for message_id in ids if message_id is not None]
        wait_settled(done, SETTLE_TIMEOUT_SECONDS)
    size = -(-len(done) // rounds)
    slices = [done[start : start + size] for start in range(0, len(done), size)]
    return Paced([timings(chunk, queued_at=None) for chunk in slices], len(done) / written, len(done))


def _write_paced(
    recipients: list[Recipient], ids: list[uuid.UUID | None], offset: int, started: float, rate: float
) -> None:
    """Every WRITER_THREADS-th message from ``offset``, each at its moment (or at once when behind)."""
    from django.db import connection

    try:
        for index in range(offset, len(recipients), WRITER_THREADS):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ids[index] = message_queue_one(recipients[index])
    finally:
        connection.close()


@dataclass
class InProcess:
    label: str
    sends: int
    seconds: float
    queries: int
    outcomes: Counter[str]

    @property
    def per_send_ms(self) -> float:
        return self.seconds / self.sends * 1e3 if self.sends else float("nan")


def run_in_process(channels: list[Channel], serial: Iterator[int]) -> list[InProcess]:
    """Both paths in this process (workers stopped), messages of one channel, queries counted."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from messaging.models import Channel
    from messaging.outbound.dispatch import message_send, messages_send
    from messaging.outbound.dispatch.relay import DISPATCH_BATCH

    Channel.objects.filter(pk=channels[0].pk).update(max_messages_per_second=1000)  # no binding limit here
    channels = list(Channel.objects.filter(pk=channels[0].pk))
    results = []
    for label, count, size in (
        ("one message per task (outbound.send)", IN_PROCESS_SINGLE, 1),
        (f"{DISPATCH_BATCH} per task (outbound.send_batch)", IN_PROCESS_BATCHED, DISPATCH_BATCH),
    ):
        warm = messages_queue(channels[:1], size, serial=serial)
        messages_send(message_ids=warm)  # connections, key caches, call threads
        ids = messages_queue(channels[:1], count, serial=serial)
        outcomes: Counter[str] = Counter()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            for start in range(0, count, size):
                chunk = ids[start : start + size]
                if size == 1:
                    outcomes[message_send(message_id=chunk[0])] += 1
                else:
                    outcomes.update(messages_send(message_ids=chunk))
            elapsed = time.perf_counter() - started
        results.append(InProcess(label, count, elapsed, len(queries.captured_queries), outcomes))
    return results
