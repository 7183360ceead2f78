"""What bench/purge.py prints: the purges' rates, each window's acks, and the target."""

from __future__ import annotations

import argparse
import time
from collections import Counter

from _lib.http_load import LoadResult
from _lib.report import exit_note

from _purge.process import WaitSampler
from _purge.seed import DELIVERIES_SHARE, ROWS_SHARE
from _purge.windows import OUTLAST_SECONDS, Measured

RATIO_TARGET = 1.5  # ack p99 with a purge running / without


def report(arguments: argparse.Namespace, measured: Measured, started: float) -> int:
    print()
    print(f"   {'purge':<20} {'expired':>9} {'seconds':>8} {'rows':>9} {'rows/s':>8}  counts")
    for label, seeded, result in (
        ("alone", measured.seeded, measured.alone),
        (f"under load, {len(measured.rounds)} runs", measured.loaded_seeded, measured.loaded_purge),
    ):
        counts = ", ".join(f"{kind} {count:,}" for kind, count in result.counts.items() if count)
        state = "" if result.complete else " (INCOMPLETE)"
        print(
            f"   {label:<20} {seeded.messages:>9,} {result.seconds:>8.1f} {result.rows:>9,} {result.rate:>8,.0f}"
            f"  {counts}{state}"
        )
    print_wal(measured)
    print(
        f"   expired: messages seeded ({ROWS_SHARE:.0%} of them past their metadata lifetime too, and"
        f" {DELIVERIES_SHARE:.0%} as many raw deliveries); rows: content blanked + message rows + deliveries deleted;"
        f" under load, each run stops itself {OUTLAST_SECONDS:.0f} s after its window"
    )
    print()
    print(
        f"Webhook acks paced at {arguments.rate:.0f}/s, from the scheduled send: {len(measured.rounds)} rounds of"
        f" {arguments.seconds:.0f} s with no purge, then {arguments.seconds:.0f} s with one running"
    )
    print(f"   {'window':<20} {'ok':>7} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'autovacuum':>11}")
    for number, one in enumerate(measured.rounds, start=1):
        windows = [("no purge", one.quiet, one.quiet_sampler), ("purge running", one.loaded, one.sampler)]
        for label, load, sampler in reversed(windows) if one.loaded_first else windows:
            print_load(f"{number}. {label}", load, sampler)
    quiet, loaded = measured.pooled("quiet"), measured.pooled("loaded")
    print_load("all: no purge", quiet)
    print_load("all: purge running", loaded)
    cleanup = sum(one.cleanup_seconds for one in measured.rounds) / len(measured.rounds)
    print(
        f"   rounds alternate which window comes first; after each pass, outside the windows: VACUUM (ANALYZE) of the"
        f" purged tables and a CHECKPOINT, {cleanup:.1f} s on average; autovacuum: share of samples in which an"
        " autovacuum worker was at work on the bench database"
    )
    ratios = [one.ratio for one in measured.rounds]
    print(f"   per-round ratio of p99s: {' '.join(f'{ratio:.2f}' for ratio in ratios)}")
    if min(ratios) <= RATIO_TARGET < max(ratios):
        print(f"   NOISY: per-round ratios straddle the {RATIO_TARGET:.1f}x target; the pooled ratio decides")
    samples = sum(one.sampler.samples for one in measured.rounds)
    waits: Counter[str] = sum((one.sampler.waits for one in measured.rounds), Counter())
    blocked = sum(one.sampler.blocked_by_purge for one in measured.rounds)
    listed = ", ".join(f"{name} {count}" for name, count in waits.most_common(6)) or "none"
    print(
        f"   webhook sessions seen running a statement in {samples:,} samples during the purges:"
        f" {sum(waits.values()):,}; waiting on the purge's session: {blocked}; on what: {listed}"
    )
    if not measured.checkpointed:
        print("   NOTE: no CHECKPOINT before each window (needs superuser or pg_checkpoint); expect noisier figures")
    if not all(one.covered for one in measured.rounds):
        print("   NOTE: a purge finished before its window ended; part of it ran without a purge (raise --rows)")
    ratio = p99_ratio(measured)
    errors = sum(quiet.errors.values()) + sum(loaded.errors.values())
    passed = ratio <= RATIO_TARGET and not errors and measured.alone.complete
    verdict = "PASS" if passed else "FAIL"
    print()
    print("Targets (each side's latencies pooled over the interleaved rounds; the machine is shared and noisy)")
    print(f"   {'ack p99 purge / no purge':<36} {ratio:>9.2f}x  <= {RATIO_TARGET:.1f}x   {verdict}")
    print(f"   {'rows purged/s, alone (absolute)':<36} {measured.alone.rate:>9,.0f}   no target")
    print(f"Total {time.perf_counter() - started:.1f} s{exit_note(strict=arguments.strict)}")
    return 1 if arguments.strict and not passed else 0


def print_load(label: str, load: LoadResult, sampler: WaitSampler | None = None) -> None:
    autovacuum = f" {sampler.autovacuum_share:>10.0%}" if sampler is not None else ""
    print(
        f"   {label:<20} {load.ok:>7} {sum(load.errors.values()):>7} {load.percentile(0.5) * 1e3:>8.2f}"
        f" {load.percentile(0.99) * 1e3:>8.2f} {max(load.latencies, default=float('nan')) * 1e3:>8.2f}{autovacuum}"
    )


def p99_ratio(measured: Measured) -> float:
    """The target's figure: p99 of the purge windows over p99 of the no-purge windows, each pooled."""
    baseline = measured.pooled("quiet").percentile(0.99)
    return measured.pooled("loaded").percentile(0.99) / baseline if baseline else float("nan")


def print_wal(measured: Measured) -> None:
    """The WAL the pass alone wrote (from the checkpoint before it), per row purged."""
    wal, rows = measured.alone_wal, max(1, measured.alone.rows)
    line = f"   WAL of the pass alone, the cluster's {wal.cluster / 1e6:.1f} MB, {wal.cluster / rows:,.0f} B per row"
    if wal.own is not None and wal.images is not None:
        line += (
            f"; this database's (pg_walinspect) {wal.own / 1e6:.1f} MB, {wal.own / rows:,.0f} bytes and"
            f" {wal.images / rows:.2f} full-page images per row ({wal.images:,})"
        )
    print(line)
