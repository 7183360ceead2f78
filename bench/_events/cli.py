"""bench/events.py's arguments, its run and its verdicts (here rather than in the script, which mypy cannot take
as a module: its name is the events app's)."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from _lib.database import describe_database
from _lib.environment import migrate, queue_delete, throwaway_database
from _lib.http_load import Target
from _lib.report import print_targets
from _lib.server import GUNICORN_OPTIONS, Environment, gunicorn, server_django_setup, write_modules
from _lib.simulator import simulator
from _lib.tenants import signed_requests

from _events.latency import run_latency, webhook_warm_up
from _events.report import report_baseline, report_latency, report_throughput
from _events.setup import WorkerPlan, events_queue, register_with_endpoint, relay_pump, settings_apply, workers
from _events.throughput import deliveries_settle, event_request, events_record, measure_baseline, run_throughput

WARMUP_EVENTS = 100
SENDERS = 200  # customers the webhooks come from in turn: each one's conversation takes a message a second at 200/s
WARMUP_WEBHOOKS = SENDERS  # distinct bodies for the warm-up (every customer's contact made), then all new messages
INGEST_PLAN = WorkerPlan(processes=1, threads=4)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark event delivery: events/s to a signature-verifying receiver against its capacity for plain "
            "POSTs from one keep-alive client (target >= 0.5x), and webhook 200 -> event at the receiver latency at "
            "a paced rate (target p99 <= 1 s). Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL). Exit status 0 "
            "unless --strict."
        )
    )
    parser.add_argument("--events", type=int, default=3000, help="events recorded at once for phase 2 (3,000)")
    parser.add_argument("--workers", type=int, default=2, help="events worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads of each events worker (default 4)")
    parser.add_argument("--baseline-seconds", type=float, default=3.0, help="each baseline sample (default 3)")
    parser.add_argument("--rate", type=float, default=200.0, help="phase 3: webhooks/s (default 200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="phase 3: seconds (default 10)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 300 events, 1 s baselines, 3 s paced")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.events, arguments.baseline_seconds, arguments.seconds = 300, 1.0, 3.0
    if not 10 <= arguments.events <= 50_000:  # noqa: PLR2004
        parser.error("--events must be between 10 and 50,000")
    if not 1 <= arguments.workers <= 8 or not 1 <= arguments.threads <= 32:  # noqa: PLR2004
        parser.error("--workers must be between 1 and 8 and --threads between 1 and 32")
    if not 1 <= arguments.baseline_seconds <= 30:  # noqa: PLR2004
        parser.error("--baseline-seconds must be between 1 and 30")
    if not 1 <= arguments.rate <= 1000 or not 1 <= arguments.seconds <= 60:  # noqa: PLR2004
        parser.error("--rate must be between 1 and 1,000 and --seconds between 1 and 60")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        print("Event delivery (bench/events.py): needs PostgreSQL and Redis (DATABASE_URL and REDIS_URL);")
        print("run it through `make bench` or `python -m core.services_probe exec -- ...`. Nothing measured.")
        return 1 if arguments.strict else 0
    pid = os.getpid()
    temp_dir = Path(tempfile.mkdtemp(prefix="bench_events_"))
    queue = f"bench_events_{pid}"  # ingest.*; events.* go to its _events twin (queue_delete matches both)
    redis_url = os.environ["REDIS_URL"]
    try:
        settings_apply()
        write_modules(temp_dir, queue, {"events.*": events_queue(queue)})
        with throwaway_database(f"bench_events_{pid}") as database_url:
            environment = Environment(temp_dir, database_url, redis_url, queue)
            return run(arguments, environment, started)
    finally:
        queue_delete(redis_url, queue)
        shutil.rmtree(temp_dir, ignore_errors=True)


def run(arguments: argparse.Namespace, environment: Environment, started: float) -> int:
    migrated = migrate(environment)
    server_django_setup(environment)
    import django
    from django.utils import timezone

    plan = WorkerPlan(arguments.workers, arguments.threads)
    paced_count = int(arguments.rate * arguments.seconds)
    with simulator() as receiver:
        registered = register_with_endpoint(receiver, max_in_flight=plan.slots)
        print("Event delivery: events/s against the receiver's plain capacity, webhook -> event latency")
        print(f"Python {platform.python_version()}, Django {django.get_version()}, {os.cpu_count()} CPUs")
        print(f"Database: {describe_database()} (migrated in {migrated:.1f} s)")
        print(
            f"Broker: Redis, queues {environment.queue} (ingest) and {events_queue(environment.queue)} (events),"
            " deleted at the end"
        )
        print(
            f"Events workers: {plan.describe()} ({plan.slots} deliveries at once, the endpoint's max_in_flight);"
            f" ingest workers: {INGEST_PLAN.describe()}; the events relay every 2 s in this process"
        )
        print(f"Receiver: a simulator process of the run's own; gunicorn {' '.join(GUNICORN_OPTIONS)} for phase 3")
        with workers(environment, events=plan, ingest=INGEST_PLAN) as pids, relay_pump():
            since = timezone.now()
            events_record(registered, WARMUP_EVENTS)  # connections, key caches, the workers' pools
            deliveries_settle(registered, WARMUP_EVENTS, event__created_at__gte=since)
            request = event_request(registered, since)
            baselines = [measure_baseline(receiver, request, arguments.baseline_seconds)]
            named = {**pids, "receiver (simulator)": [receiver.pid], "bench (record, poll, relay)": [os.getpid()]}
            throughput = run_throughput(registered, receiver, arguments.events, named)
            baselines.append(measure_baseline(receiver, request, arguments.baseline_seconds))
            bodies = signed_requests(WARMUP_WEBHOOKS + paced_count, senders=SENDERS)
            path = f"/webhooks/meta/{registered.app_key}/"
            with gunicorn(environment) as server:
                webhook_warm_up(server.port, Target("warm-up", path, bodies[:WARMUP_WEBHOOKS]), registered)
                target = Target("webhook", path, bodies[WARMUP_WEBHOOKS:])
                latency = run_latency(
                    server, target, receiver, registered, named, rate=arguments.rate, seconds=arguments.seconds
                )

    report_baseline(baselines, len(request[0]), arguments.baseline_seconds)
    verdicts = report_throughput(throughput, max(baselines), plan, plan.slots)
    verdicts += report_latency(latency, arguments.rate, arguments.seconds)
    return print_targets(verdicts, (40, 10, 10), strict=arguments.strict, started=started)
