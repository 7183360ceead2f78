"""What bench/events.py prints for each phase, and its verdicts."""

from __future__ import annotations

import os

from _lib.report import Verdict

from _events.latency import Latency
from _events.setup import WorkerPlan
from _events.throughput import BASELINE_CONNECTIONS, Throughput

RATIO_TARGET = 0.5  # events delivered/s over the receiver's plain posts/s
LATENCY_TARGET_SECONDS = 1.0  # p99, webhook 200 -> event at the receiver
KEPT_UP_SHARE = 0.9  # below this share of the webhooks' rate, the events fell behind


def report_baseline(baselines: list[float], body_bytes: int, seconds: float) -> None:
    print()
    print(
        f"1. Baseline: POSTs of an event's size ({body_bytes} bytes, its signed headers) to the receiver's"
        f" /_sim/sink, {BASELINE_CONNECTIONS} keep-alive http.client connection, {seconds:.0f} s before and after"
        " phase 2"
    )
    print(f"   posts/s: {' / '.join(f'{value:.0f}' for value in baselines)} (the better one counts)")


def report_throughput(result: Throughput, baseline: float, plan: WorkerPlan, max_in_flight: int) -> list[Verdict]:
    ratio = result.rate / baseline if baseline else 0.0
    print()
    print(
        f"2. Throughput: {result.recorded} message.received events recorded in one transaction with"
        f" business_events_record, one endpoint at the receiver's /_sim/events (max_in_flight {max_in_flight});"
        f" {plan.describe()}"
    )
    counts = ", ".join(f"{name} {count}" for name, count in sorted(result.counts.items()))
    print(
        f"   deliveries: {counts}; {result.counts['delivered']} delivered in {result.seconds:.2f} s from the commit"
        f" to the last delivery: {result.rate:.0f} events/s, {ratio:.2f}x the baseline"
    )
    print(f"   receiver: {result.verified} verified, {result.rejected} rejected")
    delivered = result.counts["delivered"]
    if delivered:
        print(
            "   CPU per delivered event: "
            + ", ".join(f"{name} {seconds / delivered * 1e6:.0f} us" for name, seconds in result.cpu.items())
        )
    print(f"   machine: {result.machine_busy / max(result.seconds, 1e-9):.2f} of {os.cpu_count()} CPUs busy")
    if not result.complete:
        print("   FAILURE: not every event was delivered and verified exactly once")
    return [
        Verdict(
            "events/s / receiver's plain posts/s", f"{ratio:.2f}x", f">= {RATIO_TARGET:.1f}x", ratio >= RATIO_TARGET
        ),
        Verdict(
            "every event delivered, verified once",
            f"{result.verified}/{result.recorded}",
            "all, once",
            result.complete,
        ),
    ]


def report_latency(result: Latency, rate: float, seconds: float) -> list[Verdict]:
    load = result.load
    print()
    print(
        f"3. End-to-end latency: signed whatsapp_text.json webhooks paced at {rate:.0f}/s for {seconds:.0f} s to"
        " gunicorn; ingest and events workers running; receiver arrival - the message's received_at (the edge's"
        " time, before the 200)"
    )
    print(
        f"   webhooks: {load.ok} answered 200 ({load.rate:.0f}/s), {sum(load.errors.values())} errors,"
        f" ack p99 {load.percentile(0.99) * 1e3:.1f} ms; messages stored {result.messages};"
        f" their events delivered {result.delivered}, matched to their arrival {len(result.timelines)}"
    )
    print(
        f"   events reached the receiver at {result.drain_rate:.0f}/s over {result.span:.1f} s, from the first"
        " webhook to the last arrival"
    )
    if result.drain_rate < KEPT_UP_SHARE * load.rate:
        print("   NOTE: delivery fell behind the webhooks: the latencies are mostly a backlog's wait")
    print(
        f"   latency: p50 {result.percentile(0.5) * 1e3:.0f} ms, p95 {result.percentile(0.95) * 1e3:.0f} ms,"
        f" p99 {result.percentile(0.99) * 1e3:.0f} ms, max {max(result.latencies, default=float('nan')) * 1e3:.0f} ms"
    )
    for label, ingest in (("edge -> event recorded (ingest)", True), ("event recorded -> arrival", False)):
        print(
            f"     {label:<34} p50 {result.part(0.5, ingest=ingest) * 1e3:.0f} ms,"
            f" p99 {result.part(0.99, ingest=ingest) * 1e3:.0f} ms"
        )
    if result.timelines:
        print(
            "   CPU per webhook, from the first to the last delivery: "
            + ", ".join(f"{name} {spent / len(result.timelines) * 1e6:.0f} us" for name, spent in result.cpu.items())
        )
    complete = load.ok > 0 and not load.errors and len(result.timelines) == result.messages == load.ok
    if not complete:
        print("   FAILURE: not every webhook's message.received reached the receiver")
    p99 = result.percentile(0.99)
    return [
        Verdict(
            f"webhook 200 -> event p99 at {rate:.0f}/s",
            f"{p99 * 1e3:.0f} ms",
            f"<= {LATENCY_TARGET_SECONDS * 1e3:.0f} ms",
            p99 <= LATENCY_TARGET_SECONDS and complete,
        )
    ]
