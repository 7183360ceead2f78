"""The processes bench/memory.py watches, one round of its load, and one reading of their memory."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from _memory.load import Webhooks, ingest_drained, sends_run, webhooks_post
from _memory.rss import Memory, children_of, memory_of

if TYPE_CHECKING:
    from messaging.models import Channel

SETTLE_SECONDS = 2.0  # after the load, before a reading: the last tasks' acks, the connections' idle state
DRAIN_SECONDS_PER_ITEM = (
    0.25  # the most a worker may take per webhook or send (a busy shared host) before the run gives up
)


@dataclass(frozen=True)
class Processes:
    gunicorn_master: int
    ingest: list[int]
    outbound: list[int]

    def by_kind(self) -> dict[str, list[int]]:
        return {
            "web": children_of(self.gunicorn_master),
            "ingest worker": self.ingest,
            "outbound worker": self.outbound,
        }


@dataclass(frozen=True)
class Load:
    webhooks: int
    sends: int


def memory_read(processes: Processes) -> dict[str, dict[int, Memory]]:
    time.sleep(SETTLE_SECONDS)
    return {kind: {pid: memory_of(pid) for pid in pids} for kind, pids in processes.by_kind().items()}


@dataclass
class LoadTarget:
    """Where the load goes: gunicorn's port and the webhook path, the webhook bodies, the send channels."""

    port: int
    path: str
    webhooks: Webhooks
    channels: list[Channel]
    serial: Iterator[int]  # the numbers of the sends' customers, across rounds


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else 0.0


def load_run(target: LoadTarget, load: Load, name: str) -> None:
    """Post ``load.webhooks`` webhooks and wait for the ingest workers to store them all, then ``load.sends`` sends
    until all are settled; prints the rates, raises when something is left undone."""
    started = time.perf_counter()
    answers = webhooks_post(target.port, target.path, target.webhooks, load.webhooks)
    posted = time.perf_counter() - started
    left = ingest_drained(120 + load.webhooks * DRAIN_SECONDS_PER_ITEM)
    drained = time.perf_counter() - started
    sends_started = time.perf_counter()
    statuses = sends_run(target.channels, load.sends, target.serial, 120 + load.sends * DRAIN_SECONDS_PER_ITEM)
    sent = time.perf_counter() - sends_started
    print(
        f"{name:<15} {load.webhooks:>7,} webhooks acked in {posted:6.1f} s ({_rate(load.webhooks, posted):5.0f}/s),"
        f" all stored in {drained:6.1f} s; {load.sends:>6,} sends in {sent:5.1f} s ({_rate(load.sends, sent):4.0f}/s)"
    )
    refused = {status: count for status, count in answers.items() if status != http.client.OK}
    unsent = {status: count for status, count in statuses.items() if status != "accepted"}
    if refused or left or unsent:
        raise RuntimeError(f"{name}: webhooks not acked {refused}, deliveries left {left}, sends not accepted {unsent}")
