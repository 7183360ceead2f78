"""The HTTP phases of bench/ingest.py: ack throughput against the floor view, and ack latency at a paced rate."""

from __future__ import annotations

import argparse

from _lib.cpu import CpuSplit, cpu_measurable, cpu_snapshot
from _lib.http_load import PACED_CONNECTIONS, LoadResult, Target, closed_loop, paced
from _lib.report import Verdict
from _lib.server import Server

THROUGHPUT_TARGET = 0.5  # webhook / floor, requests/s
LATENCY_TARGET_MS = 10.0  # webhook p99 at the paced rate
CLIENT_CONNECTIONS = 8  # closed-loop keep-alive connections (2 workers x 4 threads)
THROUGHPUT_ROUNDS = 5  # floor, webhook, floor, webhook, ... (drift hits both sides)
THROUGHPUT_SAMPLE_SECONDS = 2.0
PACED_SHARE = 0.7  # the latency phase's rate, as a share of the webhook's best throughput round


def report_throughput(server: Server, floor: Target, webhook: Target) -> tuple[Verdict, float]:
    """Interleaved closed-loop rounds; returns the verdict and the webhook's best round (its own measured capacity,
    which the paced phase takes a share of)."""
    rounds: dict[str, list[LoadResult]] = {floor.label: [], webhook.label: []}
    cpu = {floor.label: CpuSplit(), webhook.label: CpuSplit()}
    measurable = cpu_measurable()
    for _ in range(THROUGHPUT_ROUNDS):
        for target in (floor, webhook):
            before = cpu_snapshot(server) if measurable else None
            rounds[target.label].append(closed_loop(server.port, target, THROUGHPUT_SAMPLE_SECONDS, CLIENT_CONNECTIONS))
            if before is not None:
                cpu[target.label].add(cpu_snapshot(server).since(before))
    best = {label: max(result.rate for result in results) for label, results in rounds.items()}
    ratio = best[webhook.label] / best[floor.label]
    per_round = [w.rate / f.rate for f, w in zip(rounds[floor.label], rounds[webhook.label], strict=True)]
    print()
    print(
        f"1. Throughput: closed loop, {CLIENT_CONNECTIONS} keep-alive connections, {THROUGHPUT_ROUNDS} interleaved"
        f" rounds of {THROUGHPUT_SAMPLE_SECONDS:.0f} s; signed whatsapp_text.json bodies; best round of each"
    )
    print(f"   {'case':<36} {'best req/s':>10} {'rounds req/s':>20} {'errors':>7} {'ratio':>7}")
    for target in (floor, webhook):
        results = rounds[target.label]
        errors = sum(sum(result.errors.values()) for result in results)
        spread = " ".join(f"{result.rate:.0f}" for result in results)
        print(
            f"   {target.label:<36} {best[target.label]:>10.0f} {spread:>20} {errors:>7}"
            f" {best[target.label] / best[floor.label]:>6.2f}x"
        )
    print(f"   per-round ratio webhook/floor: {' '.join(f'{value:.2f}' for value in per_round)}")
    if min(per_round) < THROUGHPUT_TARGET <= max(per_round):
        print(f"   NOISY: per-round ratios straddle the {THROUGHPUT_TARGET:.1f}x target; re-run on a quieter machine")
    if measurable:
        report_cpu(cpu, rounds)
    passed = ratio >= THROUGHPUT_TARGET
    verdict = Verdict("throughput webhook/floor", f"{ratio:.2f}x", f">= {THROUGHPUT_TARGET:.1f}x", passed)
    return verdict, best[webhook.label]


def report_cpu(cpu: dict[str, CpuSplit], rounds: dict[str, list[LoadResult]]) -> None:
    """CPU per answered request, all rounds: what the ratio is made of (the machine's cores are the limit)."""
    heading = "CPU per answered request, all rounds"
    print(f"   {heading:<36} {'gunicorn':>10} {'PostgreSQL':>11} {'client':>7} {'total':>7}")
    for label, split in cpu.items():
        per_request = 1e6 / (sum(result.ok for result in rounds[label]) or 1)
        server, database, client = split.server * per_request, split.database * per_request, split.client * per_request
        total = server + database + client
        print(f"   {label:<36} {server:>7.0f} us {database:>8.0f} us {client:>4.0f} us {total:>4.0f} us")


def paced_rate(asked: float | None, capacity: float) -> tuple[float, str]:
    """The latency phase's rate: ``PACED_SHARE`` of the webhook's best throughput round, unless ``--rate`` asks for
    another; and how it was chosen."""
    share = f"{PACED_SHARE:.0%} of the webhook's best throughput round ({capacity:.0f}/s)"
    if asked is None:
        return max(1.0, round(PACED_SHARE * capacity)), share
    return asked, f"asked with --rate; {share}"


def report_latency(
    port: int, floor: Target, webhook: Target, arguments: argparse.Namespace, capacity: float
) -> tuple[Verdict, float]:
    """Pace both cases; the verdict on the webhook's p99 and the rate paced (a second run may pace the same)."""
    rate, note = paced_rate(arguments.rate, capacity)
    results = {target.label: paced(port, target, rate, arguments.seconds) for target in (floor, webhook)}
    print()
    print(
        f"2. Latency: paced {rate:.0f} requests/s for {arguments.seconds:.0f} s per case, {PACED_CONNECTIONS}"
        f" connections, from each request's scheduled send ({note})"
    )
    if arguments.seconds < 10:  # noqa: PLR2004
        print("   NOTE: shorter than the 10 s the target is defined over")
    print(f"   {'case':<36} {'sent/s':>8} {'ok':>7} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, result in results.items():
        print(
            f"   {label:<36} {result.rate:>8.0f} {result.ok:>7} {sum(result.errors.values()):>7}"
            f" {result.percentile(0.5) * 1e3:>8.2f} {result.percentile(0.99) * 1e3:>8.2f}"
            f" {max(result.latencies, default=float('nan')) * 1e3:>8.2f}"
        )
    hook = results[webhook.label]
    p99 = hook.percentile(0.99) * 1e3
    passed = p99 <= LATENCY_TARGET_MS and not hook.errors
    return Verdict(f"webhook ack p99 at {rate:.0f}/s", f"{p99:.1f} ms", f"<= {LATENCY_TARGET_MS:.0f} ms", passed), rate
