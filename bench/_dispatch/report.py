"""What bench/dispatch.py prints for each phase, and the verdicts of its throughput targets."""

from __future__ import annotations

import argparse
import os

from _lib.report import Verdict

from _dispatch.messages import PROVIDER_BASE
from _dispatch.phases import BASELINE_THREADS, InProcess, Paced, Throughput

SENDS_TARGET = 500.0  # sends/s, absolute
RATIO_TARGET = 0.5  # gateway sends/s / baseline sends/s
P50_TARGET_MS = 50.0  # paced phase: queued -> accepted
P99_TARGET_MS = 200.0
WRITER_SHORT = 0.9  # a writer below this share of the asked rate gets a NOTE


def report_throughput(
    arguments: argparse.Namespace, baselines: list[float], result: Throughput, exited: list[int | None]
) -> list[Verdict]:
    from messaging.models import MessageStatus

    baseline = max(baselines)
    rate = result.rate
    ratio = rate / baseline if baseline else 0.0
    timing = result.timing
    print()
    print(
        f"1. Baseline: simulator.capacity.measure, {BASELINE_THREADS} keep-alive http.client threads, "
        f"{arguments.baseline_seconds:.0f} s before and after the gateway runs"
    )
    print(f"   accepted sends/s: {' / '.join(f'{value:.0f}' for value in baselines)} (the better one counts)")
    print()
    print(
        f"2. Throughput: {result.queued} messages queued at once on {arguments.channels} channels"
        f" ({arguments.channel_rate}/s each, {arguments.channels * arguments.channel_rate}/s together), published by"
        f" the relay, {arguments.workers} worker processes"
    )
    accepted = result.counts[MessageStatus.ACCEPTED]
    print(
        f"   {accepted} accepted, {result.counts[MessageStatus.FAILED]} failed,"
        f" {result.queued - accepted - result.counts[MessageStatus.FAILED]} unsettled;"
        f" {len(timing.accepted_at)} accepted in {result.seconds:.2f} s from the publish:"
        f" {rate:.0f} sends/s, {ratio:.2f}x the baseline"
    )
    print(
        f"   publish -> accepted (the backlog draining): p50 {timing.percentile(0.5) * 1e3:.0f} ms,"
        f" p99 {timing.percentile(0.99) * 1e3:.0f} ms"
    )
    attempts = ", ".join(f"{name} {count}" for name, count in sorted(timing.attempts.items()))
    print(f"   attempt rows: {attempts}")
    peak = max(result.per_second_max.values(), default=0)
    channel_peaks = " ".join(
        str(result.per_second_max.get(str(PROVIDER_BASE + i), 0)) for i in range(arguments.channels)
    )
    print(f"   most sends in one wall-clock second per channel (simulator): {channel_peaks}")
    if accepted:
        print(
            "   CPU per accepted send: "
            + ", ".join(f"{name} {seconds / accepted * 1e3:.2f} ms" for name, seconds in result.cpu.items())
        )
    print(f"   machine: {result.machine_busy / max(result.seconds, 1e-9):.2f} of {os.cpu_count()} CPUs busy")
    print(
        f"   simulator: {result.sim_accepted} accepted, {result.duplicates} duplicates,"
        f" errors {result.errors or 'none'}"
    )
    if exited:
        print(f"   NOTE: worker processes exited during the run: {exited}")
    complete = accepted == result.queued == result.sim_accepted and result.duplicates == 0
    return [
        Verdict(
            "dispatch sends/s (absolute)",
            f"{rate:.0f}/s",
            f">= {SENDS_TARGET:.0f}/s",
            rate >= SENDS_TARGET and complete,
        ),
        Verdict(
            "dispatch / simulator baseline",
            f"{ratio:.2f}x",
            f">= {RATIO_TARGET:.1f}x",
            ratio >= RATIO_TARGET and complete,
        ),
        Verdict(
            "peak sends/s on a channel (simulator)",
            f"{peak}",
            f"<= {arguments.channel_rate}",
            0 < peak <= arguments.channel_rate,
        ),
        Verdict("every message accepted once", f"{result.sim_accepted}/{result.queued}", "all, once", complete),
    ]


def report_paced(result: Paced, arguments: argparse.Namespace) -> list[Verdict]:
    timing = result.pooled
    print()
    print(
        f"3. Latency: {len(timing.latencies)} messages written one at a time as the send API does, {result.rate:.0f}/s"
        f" for {arguments.paced_seconds:.0f} s, one outbound.send each (beat's relay with its own grace);"
        " queued (received_at) -> accepted (attempt finish)"
    )
    p50, p99 = timing.percentile(0.5) * 1e3, timing.percentile(0.99) * 1e3
    print(f"   p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(timing.latencies, default=float('nan')) * 1e3:.1f} ms")
    rounds = [(round_.percentile(0.5) * 1e3, round_.percentile(0.99) * 1e3) for round_ in result.rounds]
    print(f"   rounds (p50/p99 ms, in the order written): {', '.join(f'{a:.0f}/{b:.0f}' for a, b in rounds)}")
    if result.rate < arguments.paced_rate * WRITER_SHORT:
        print(
            f"   NOTE: the writer reached {result.rate:.0f}/s of the {arguments.paced_rate:.0f}/s asked (this process,"
            " on the shared cores): the latencies are at that rate"
        )
    for name, index, target in (("p50", 0, P50_TARGET_MS), ("p99", 1, P99_TARGET_MS)):
        if len({value[index] <= target for value in rounds}) > 1:
            print(f"   NOISY: per-round {name} straddle the {target:.0f} ms target; the pooled {name} decides")
    complete = len(timing.latencies) == result.written  # every message accepted, once
    label = f"send latency at {arguments.paced_rate:.0f}/s"
    return [
        Verdict(f"{label}: p50", f"{p50:.0f} ms", f"<= {P50_TARGET_MS:.0f} ms", complete and p50 <= P50_TARGET_MS),
        Verdict(f"{label}: p99", f"{p99:.0f} ms", f"<= {P99_TARGET_MS:.0f} ms", complete and p99 <= P99_TARGET_MS),
    ]


def report_in_process(results: list[InProcess]) -> None:
    print()
    print("4. In-process cost per send (workers stopped; the simulator on the same cores), one channel")
    print(f"   {'path':<40} {'sends':>6} {'ms/send':>8} {'queries/send':>13}  outcomes")
    for result in results:
        outcomes = ", ".join(f"{name} {count}" for name, count in sorted(result.outcomes.items()))
        print(
            f"   {result.label:<40} {result.sends:>6} {result.per_send_ms:>8.2f}"
            f" {result.queries / result.sends:>13.1f}  {outcomes}"
        )
    if len(results) == 2:  # noqa: PLR2004
        print(
            f"   the batch path costs {results[1].per_send_ms / results[0].per_send_ms:.2f}x the single path per send"
        )
