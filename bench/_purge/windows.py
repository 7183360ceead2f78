"""The paced windows of bench/purge.py: with no purge and while a purge pass runs, interleaved (ABBA)."""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from dataclasses import dataclass

from _lib.database import checkpoint, vacuum_analyze
from _lib.http_load import LoadResult, Target, paced, warm_up
from _lib.server import Environment
from _lib.tenants import Registered
from _lib.wal import WalMark, WalWritten

from _purge.process import PurgeResult, WaitSampler, purge_finish, purge_start, purge_started
from _purge.seed import DELIVERIES_SHARE, ROWS_SHARE, Seeded, seed

START_TIMEOUT_SECONDS = 60.0
PURGED_TABLES = ("messaging_message", "webhooks_delivery")
COVER_FACTOR = 2.0  # rows seeded for the purges under load: twice what the purge alone would do in their windows
OUTLAST_SECONDS = 5.0  # a purge under load is given the window plus this, so that it runs until the window ends
WARMUP_SECONDS = 2.0


@dataclass
class Window:
    load: LoadResult
    sampler: WaitSampler


@dataclass
class Round:
    quiet: LoadResult  # no purge running
    loaded: LoadResult  # a purge running
    purge: PurgeResult
    covered: bool  # the purge still ran when the window ended
    sampler: WaitSampler  # the loaded window's
    quiet_sampler: WaitSampler
    loaded_first: bool
    cleanup_seconds: float  # the VACUUM and CHECKPOINT after the pass, outside the windows

    @property
    def ratio(self) -> float:
        quiet = self.quiet.percentile(0.99)
        return self.loaded.percentile(0.99) / quiet if quiet else float("nan")


@dataclass
class Measured:
    seeded: Seeded
    alone: PurgeResult
    alone_wal: WalWritten  # over the pass alone, from the checkpoint before it
    loaded_seeded: Seeded
    rounds: list[Round]
    checkpointed: bool  # each window started right after a checkpoint

    def pooled(self, side: str) -> LoadResult:
        loads: list[LoadResult] = [getattr(one, side) for one in self.rounds]
        return LoadResult(
            ok=sum(load.ok for load in loads),
            errors=sum((load.errors for load in loads), Counter()),
            seconds=sum(load.seconds for load in loads),
            latencies=[latency for load in loads for latency in load.latencies],
        )

    @property
    def loaded_purge(self) -> PurgeResult:
        counts: Counter[str] = Counter()
        for one in self.rounds:
            counts.update(one.purge.counts)
        return PurgeResult(sum(one.purge.seconds for one in self.rounds), dict(counts), complete=True)


def measure(
    arguments: argparse.Namespace,
    environment: Environment,
    registered: Registered,
    port: int,
    webhook: Target,
) -> Measured:
    from django.db import connection
    from django.utils import timezone

    database = connection.settings_dict["NAME"]
    warm_up(port, [webhook])
    paced(port, webhook, arguments.rate, WARMUP_SECONDS)  # the first paced second is always slower
    seeded = seed(registered, arguments.rows, timezone.now())
    checkpointed = checkpoint()
    mark = WalMark()
    alone = purge_finish(purge_start(environment, arguments))
    alone_wal = mark.since()
    # Enough rows that every purge under load outlasts its window (it runs slower than alone).
    window_rows = alone.rate * arguments.seconds * arguments.rounds * COVER_FACTOR
    rows = max(arguments.rows, int(window_rows / (1 + ROWS_SHARE + DELIVERIES_SHARE)))
    loaded_seeded = seed(registered, rows, timezone.now())
    vacuum_analyze(*PURGED_TABLES)  # else autovacuum works on the seeded rows in the first window
    rounds = []
    for number in range(arguments.rounds):
        loaded_first = number % 2 == 1  # ABBA: a window's place in its round is not what decides
        if loaded_first:
            loaded, purge, covered, cleanup = purge_window(environment, port, webhook, arguments, database)
            quiet = quiet_window(port, webhook, arguments, database)
        else:
            quiet = quiet_window(port, webhook, arguments, database)
            loaded, purge, covered, cleanup = purge_window(environment, port, webhook, arguments, database)
        rounds.append(
            Round(quiet.load, loaded.load, purge, covered, loaded.sampler, quiet.sampler, loaded_first, cleanup)
        )
    return Measured(seeded, alone, alone_wal, loaded_seeded, rounds, checkpointed)


def quiet_window(port: int, webhook: Target, arguments: argparse.Namespace, database: str) -> Window:
    checkpoint()
    return Window(*sampled_paced(port, webhook, arguments, database))


def purge_window(
    environment: Environment,
    port: int,
    webhook: Target,
    arguments: argparse.Namespace,
    database: str,
) -> tuple[Window, PurgeResult, bool, float]:
    """A window while a new purge pass runs; then, outside the window, the VACUUM and CHECKPOINT of what the pass
    left (else autovacuum and the checkpointer would do that work inside the next window, whichever it is)."""
    from django.utils import timezone

    checkpoint()
    since = timezone.now()
    process = purge_start(environment, arguments, max_seconds=arguments.seconds + OUTLAST_SECONDS)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not purge_started(since) and time.monotonic() < deadline:
        time.sleep(0.05)
    window = Window(*sampled_paced(port, webhook, arguments, database))
    covered = process.poll() is None
    purge = purge_finish(process)
    cleanup_started = time.perf_counter()
    vacuum_analyze(*PURGED_TABLES)
    checkpoint()
    return window, purge, covered, time.perf_counter() - cleanup_started


def sampled_paced(
    port: int, webhook: Target, arguments: argparse.Namespace, database: str
) -> tuple[LoadResult, WaitSampler]:
    """One paced window with the wait sampler running alongside (in every case, so that it costs each the same)."""
    sampler = WaitSampler(database)
    sampling = threading.Thread(target=sampler.run, daemon=True)
    sampling.start()
    try:
        return paced(port, webhook, arguments.rate, arguments.seconds), sampler
    finally:
        sampler.stop.set()
        sampling.join(timeout=30)
