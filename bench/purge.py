"""Retention purge: rows purged per second, and the webhook ack p99 while a purge runs against without one.

1. Purge alone: ``manage.py policies purge`` in its own process over ``--rows`` expired messages (default 100,000:
   the content of all of them blanked, 20% of the rows deleted with them) and 20% as many expired raw deliveries.
   Figure: rows purged per second (content blanked + message rows + deliveries deleted) from the run record.
2. Acks with and without a purge, interleaved: ``--rounds`` (default 3) rounds of two paced windows of signed
   POSTs of ``whatsapp_text.json`` to ``/webhooks/meta/<app_key>/`` (``--rate``, default 200/s, for ``--seconds``,
   default 10): one with no purge, then one while a purge runs (a new pass, started with ``--max-seconds`` so
   that it outlasts the window). Target: p99 of the purge windows / p99 of the no-purge windows, each side's
   latencies pooled over the rounds, <= 1.5. Interleaving makes the drift of a shared machine fall on both sides,
   and the rounds alternate which window comes first (ABBA). The purges run as beat runs them: duty 0.5 and its WAL
   budget (``--duty``, ``--batch-size`` and ``--wal-rate`` change that).

Each window starts right after a CHECKPOINT, so that where one falls does not decide the result, and the same
sampler runs in every window: what webhook sessions wait on (reported for the purge windows), and whether an
autovacuum worker is at work on the bench database (reported per window). After each pass, outside the windows,
the purged tables are vacuumed and a CHECKPOINT is made, and the time that takes is printed: else autovacuum and
the checkpointer would do a pass's leftover work inside the next window, whichever side it is on.

Everything runs against a throwaway PostgreSQL database (``bench_purge_<pid>``) served by one gunicorn
(``--workers 2 --threads 4``, the helpers in bench/_lib/ that bench/ingest.py uses too), publishing to a Celery
queue of its own (deleted at the end). No celery worker runs: deliveries accumulate. The exit status is 0 even
when the target fails, unless ``--strict`` is given.

    make bench
    .venv/bin/python -m core.services_probe exec -- .venv/bin/python bench/purge.py --rows 100000 --strict
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lib.database import describe_database
from _lib.environment import migrate, queue_delete, throwaway_database
from _lib.http_load import Target
from _lib.report import print_targets
from _lib.server import GUNICORN_OPTIONS, Environment, gunicorn, server_django_setup, write_modules
from _lib.stored import Figure, stored_argument, stored_twice
from _lib.tenants import register, signed_requests
from _purge.report import p99_ratio, report
from _purge.windows import Measured, measure

BODY_POOL = 2000  # distinct signed bodies (each a new message id), cycled


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark the retention purge: rows purged per second, and webhook ack p99 during a purge against "
            "without one (target <= 1.5x). Needs PostgreSQL (DATABASE_URL); uses a throwaway database. Exit "
            "status 0 unless --strict."
        )
    )
    parser.add_argument("--rows", type=int, default=100_000, help="expired messages per purge (default 100,000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="paced window, each side of a round (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved no-purge/purge rounds (default 3)")
    parser.add_argument("--rate", type=float, default=200.0, help="paced webhooks/s (default 200)")
    parser.add_argument("--duty", type=float, help="the purge's duty cycle (default: the command's, as beat runs it)")
    parser.add_argument("--batch-size", type=int, help="the purge's rows per batch (default: the command's)")
    parser.add_argument("--wal-rate", type=float, help="the purge's WAL budget, MB/s (default: the command's)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target fails")
    stored_argument(parser)
    arguments = parser.parse_args(argv)
    if not 1_000 <= arguments.rows <= 5_000_000:  # noqa: PLR2004
        parser.error("--rows must be between 1,000 and 5,000,000")
    if not 1 <= arguments.seconds <= 120:  # noqa: PLR2004
        parser.error("--seconds must be between 1 and 120")
    if not 1 <= arguments.rounds <= 20:  # noqa: PLR2004
        parser.error("--rounds must be between 1 and 20")
    if not 1 <= arguments.rate <= 2000:  # noqa: PLR2004
        parser.error("--rate must be between 1 and 2000")
    if arguments.duty is not None and not 0 < arguments.duty <= 1:
        parser.error("--duty must be above 0 and at most 1")
    if arguments.batch_size is not None and not 1 <= arguments.batch_size <= 10_000:  # noqa: PLR2004
        parser.error("--batch-size must be between 1 and 10,000")
    if arguments.wal_rate is not None and arguments.wal_rate < 0:
        parser.error("--wal-rate must be 0 (no limit) or more")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("Retention purge (bench/purge.py): needs PostgreSQL (DATABASE_URL); run it through `make bench` or")
        print("`python -m core.services_probe exec -- ...`. Nothing measured.")
        return 1 if arguments.strict else 0
    pid = os.getpid()
    temp_dir = Path(tempfile.mkdtemp(prefix="bench_purge_"))
    queue = f"bench_purge_{pid}"
    redis_url = os.environ.get("REDIS_URL", "")
    try:
        write_modules(temp_dir, queue)
        with throwaway_database(f"bench_purge_{pid}") as database_url:
            environment = Environment(temp_dir, database_url, redis_url, queue)
            return run(arguments, environment, started)
    finally:
        queue_delete(redis_url, queue)
        shutil.rmtree(temp_dir, ignore_errors=True)


def run(arguments: argparse.Namespace, environment: Environment, started: float) -> int:
    migrated = migrate(environment)
    server_django_setup(environment)
    import django

    registered = register()
    print("Retention purge: rows purged per second, webhook ack p99 during a purge vs without (bench/purge.py)")
    print(f"Python {platform.python_version()}, Django {django.get_version()}, {os.cpu_count()} CPUs")
    print(f"Database: {describe_database()} (migrated in {migrated:.1f} s)")
    broker = f"Redis, queue {environment.queue} (deleted at the end)" if environment.redis_url else "filesystem"
    print(f"Broker: {broker}; no worker runs, deliveries accumulate")
    from policies.retention.purge import BATCH_SIZE, DEFAULT_DUTY, DEFAULT_WAL_MB_PER_SECOND

    duty, batch = arguments.duty or DEFAULT_DUTY, arguments.batch_size or BATCH_SIZE
    wal_rate = DEFAULT_WAL_MB_PER_SECOND if arguments.wal_rate is None else arguments.wal_rate
    print(f"gunicorn {' '.join(GUNICORN_OPTIONS)}")
    wal = f"WAL budget {wal_rate} MB/s" if wal_rate else "no WAL budget"
    print(f"The purge: `manage.py policies purge` in its own process, duty {duty}, batches of {batch}, {wal}")
    webhook = Target("webhook", f"/webhooks/meta/{registered.app_key}/", signed_requests(BODY_POOL))
    with gunicorn(environment) as server:

        def measured_run() -> tuple[Measured, int]:
            measured = measure(arguments, environment, registered, server.port, webhook)
            return measured, report(arguments, measured, started)

        (_, status), compared = stored_twice(arguments.stored, registered, measured_run, FIGURES, values)
    if not compared:
        return status
    return max(status, print_targets(compared, (44, 6, 8), strict=arguments.strict, started=started))


FIGURES = [  # what --stored compares
    Figure("purge ack p99 purge/no purge", higher_is_better=False),
    Figure("rows purged/s, alone", higher_is_better=True),
]


def values(run: tuple[Measured, int]) -> list[float]:
    return [p99_ratio(run[0]), run[0].alone.rate]


if __name__ == "__main__":
    sys.exit(main())
