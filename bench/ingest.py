"""Webhook ingest: ack throughput and latency against a bare Django view, and the fan-out rate of one process.

1. Throughput: closed-loop signed POSTs of ``whatsapp_text.json`` to ``/webhooks/meta/<app_key>/`` against the
   same POSTs to a bare view that returns 200 (the framework floor), both served by one gunicorn
   (``--workers 2 --threads 4``, access log off). Target: webhook / floor >= 0.5. Also printed (PostgreSQL, Linux):
   the CPU per answered request of gunicorn's processes, the database's backends and the client.
2. Latency: p50 and p99 of the ack at a paced rate (70 % of the webhook's best throughput round, or ``--rate``),
   measured from each request's scheduled send time, for the floor and the webhook. Target: webhook p99 <= 10 ms.
3. Fan-out: ``delivery_process`` over mixed batches (messages and statuses, several entries and changes, about
   50 items per POST) stored with ``delivery_record``, in this process. The messages the statuses are about are
   stored first, as sent and accepted, so each status is recorded against its message as in production; then
   the tables are vacuumed and analyzed and a checkpoint made. Target: >= 1,000 items/s (absolute: there is no
   baseline for it).

Everything runs against a throwaway database (``bench_ingest_<pid>`` on PostgreSQL, a temp file on SQLite) and,
when REDIS_URL is set, publishes to a Celery queue of its own, deleted at the end. No celery worker runs: the
deliveries accumulate. Only 127.0.0.1 is loaded. The exit status is 0 even when a target fails, unless
``--strict`` is given.

    make bench
    .venv/bin/python -m core.services_probe exec -- .venv/bin/python bench/ingest.py --seconds 10 --rate 700
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

from _ingest.fanout import report_fanout
from _ingest.http_phases import report_latency, report_throughput
from _lib.database import describe_database
from _lib.environment import migrate, queue_delete, throwaway_database
from _lib.http_load import Target, warm_up
from _lib.report import Verdict, print_targets
from _lib.server import GUNICORN_OPTIONS, Environment, gunicorn, server_django_setup, write_modules
from _lib.stored import Figure, figure_of, stored_argument, stored_twice
from _lib.tenants import Registered, register, signed_requests
from _lib.wal import WalMeter

BODY_POOL = 500  # distinct signed bodies, cycled


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark webhook ingest: ack throughput against a bare Django view (target >= 0.5x), ack latency "
            "at a paced rate (target p99 <= 10 ms) and fan-out items/s in one process (target >= 1,000/s). "
            "Uses PostgreSQL when DATABASE_URL is set, else SQLite, in a throwaway database. Exit status 0 "
            "unless --strict."
        )
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="paced latency run per case (default 10)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="paced requests/s (default: 70%% of the webhook's best throughput round)",
    )
    parser.add_argument("--batches", type=int, default=60, help="fan-out batches of ~50 items (default 60)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    stored_argument(parser)
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.seconds <= 120:  # noqa: PLR2004
        parser.error("--seconds must be between 1 and 120")
    if arguments.rate is not None and not 1 <= arguments.rate <= 5000:  # noqa: PLR2004
        parser.error("--rate must be between 1 and 5000")
    if not 1 <= arguments.batches <= 1000:  # noqa: PLR2004
        parser.error("--batches must be between 1 and 1000")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    pid = os.getpid()
    temp_dir = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    queue = f"bench_ingest_{pid}"
    redis_url = os.environ.get("REDIS_URL", "")
    try:
        write_modules(temp_dir, queue)
        with throwaway_database(f"bench_ingest_{pid}") as database_url:
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
    print("Webhook ingest: ack throughput and latency against a bare view, fan-out rate (bench/ingest.py)")
    print(f"Python {platform.python_version()}, Django {django.get_version()}, {os.cpu_count()} CPUs")
    print(f"Database: {describe_database()} (migrated in {migrated:.1f} s)")
    broker = f"Redis, queue {environment.queue} (deleted at the end)" if environment.redis_url else "filesystem"
    print(f"Broker: {broker}; no worker runs, deliveries accumulate")
    print(f"gunicorn {' '.join(GUNICORN_OPTIONS)}, 127.0.0.1, access log off")

    verdicts, compared = stored_twice(
        arguments.stored, registered, lambda: phases(arguments, environment, registered), FIGURES, values
    )
    return print_targets(verdicts + compared, (40, 10, 10), strict=arguments.strict, started=started)


FIGURES = [  # what --stored compares, in the order of phases()' verdicts
    Figure("throughput webhook/floor", higher_is_better=True),
    Figure("webhook ack p99 ms", higher_is_better=False),
    Figure("fan-out items/s", higher_is_better=True),
]


def values(verdicts: list[Verdict]) -> list[float]:
    return [figure_of(verdict) for verdict in verdicts]


def phases(arguments: argparse.Namespace, environment: Environment, registered: Registered) -> list[Verdict]:
    bodies = signed_requests(BODY_POOL)
    floor = Target("floor: bare view, 200", "/bench/floor/", bodies)
    webhook = Target("webhook: verify + store + enqueue", f"/webhooks/meta/{registered.app_key}/", bodies)
    with gunicorn(environment) as server:
        warm_up(server.port, [floor, webhook])
        wal = WalMeter()
        throughput_verdict, capacity = report_throughput(server, floor, webhook)
        latency_verdict, arguments.rate = report_latency(server.port, floor, webhook, arguments, capacity)
        wal.print()  # the stored run paces at the rate the empty one used, so the two p99 figures compare
    fanout_verdict = report_fanout(registered.meta_app_id, arguments.batches)  # in this process; gunicorn stopped
    return [throughput_verdict, latency_verdict, fanout_verdict]


if __name__ == "__main__":
    sys.exit(main())
