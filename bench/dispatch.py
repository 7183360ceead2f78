"""Outbound dispatch: sends/s against a durable floor and against the channels' limits, queued-to-accepted latency.

1. Durable floor: the least any correct gateway must do per send, run by the same ``celery worker`` processes
   (``_dispatch/floor_tasks.py``, one task per CALL_THREADS rows, one row per call thread): lease one queued row
   (``FOR UPDATE SKIP LOCKED``, committed before the call), POST its Graph body to the simulator over a keep-alive
   ``http.client`` connection, record the outcome and the attempt in one transaction. Run before and after the
   top-tier phase; the better one counts.
2. Gateway at Meta's top tier: ``--messages`` queued at once across ``--channels`` WhatsApp channels at 1,000/s
   each, published by the outbox relay (a process of its own, as beat), sent by the workers. Targets: >= 0.5x the
   floor's sends/s, and never above a channel's limit (the simulator's busiest wall-clock second per channel).
3. Gateway at ``--channel-rate`` (80/s): the same, against what the limits allow (10 channels: >= 0.9 x 800/s).
   Every phase prints the drain time and the CPU per accepted send by process kind (workers, relay/beat,
   simulator, this script, PostgreSQL, Redis, the rest of the machine).
4. Latency: messages written one per transaction the way the send API writes them, by 4 threads as concurrent
   requests (message + outbox row, one ``outbound.send`` published on commit, the row stamped published) at 75/s,
   beat's relay running with its own grace; p50/p99 from ``queued`` (``received_at``) to ``accepted`` (the finish
   of the accepted attempt).
   Targets: p50 <= 50 ms and p99 <= 200 ms (NOISY when the rounds straddle one).
5. In-process cost per send of the two paths (one message per task, a batch per task) with the queries each
   makes, the workers stopped. Information: no target.

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL: ``make bench`` finds them). Everything runs against a
throwaway database (``bench_dispatch_<pid>``), a Celery queue of the run's own (deleted at the end) and two
simulator processes of its own: Graph, and a sink for its status webhooks (off unless ``--status-webhooks``:
Meta's statuses would cost Meta's cores, and here they never reach the gateway, so they only take the shared
cores from the workers). Only 127.0.0.1 is loaded. The exit status is 0 even when a target fails, unless
``--strict`` is given.

    make bench
    .venv/bin/python -m core.services_probe exec -- .venv/bin/python bench/dispatch.py --messages 5000 --strict
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

from _dispatch.floor import floor_tables_create, run_floor
from _dispatch.messages import messages_queue, register, wait_settled
from _dispatch.phases import channels_rate_set, run_in_process, run_paced, run_throughput
from _dispatch.processes import (
    Environment,
    dispatch_django_setup,
    pool_options,
    relay_process,
    relay_stop,
    workers,
    write_settings,
)
from _dispatch.report import TOP_TIER_RATE, report_floor, report_gateway, report_in_process, report_paced
from _lib.cpu import session_pids
from _lib.database import describe_database
from _lib.environment import migrate, queue_delete, throwaway_database
from _lib.report import print_targets
from _lib.simulator import simulator

CHANNEL_RATE = 80  # Meta's default throughput per number
WARMUP_PER_CHANNEL = 16
STATUS_BATCH = 20  # the simulator packs backed-up statuses, as Meta does, so its webhooks cost less


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark outbound dispatch: the outbound worker as deployed (one process, 4 prefork children) sending "
            "queued messages to the simulator, against "
            "a durable floor run by the same workers (target >= 0.5x with channels at 1,000/s), against what the "
            "channels' limits allow at --channel-rate (target >= 0.9x), never above a channel's limit; latency "
            "from queued to accepted at 75/s (targets p50 <= 50 ms, p99 <= 200 ms). "
            "Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL). Exit status 0 unless --strict."
        )
    )
    parser.add_argument("--messages", type=int, default=5000, help="queued at once for the throughput run")
    parser.add_argument("--channels", type=int, default=10, help="WhatsApp channels the messages are spread over")
    parser.add_argument("--channel-rate", type=int, default=CHANNEL_RATE, help="each channel's messages/s (80)")
    parser.add_argument("--workers", type=int, default=1, help="outbound worker processes (default 1)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="prefork children per worker process (default 4, as deploy/compose.yaml's outbound worker;"
        " 1: --pool solo)",
    )
    parser.add_argument("--paced-rate", type=float, default=75.0, help="latency run: messages/s (default 75)")
    parser.add_argument("--paced-seconds", type=float, default=5.0, help="latency run: seconds (default 5)")
    parser.add_argument("--paced-rounds", type=int, default=3, help="latency run: slices judged apart (default 3)")
    parser.add_argument(
        "--status-webhooks",
        action="store_true",
        help="the simulator posts 3 statuses per send to a sink in every phase, baseline included (off by default:"
        " they cost the shared cores, not the gateway, which they never reach here)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    arguments = parser.parse_args(argv)
    if not 100 <= arguments.messages <= 50_000:  # noqa: PLR2004
        parser.error("--messages must be between 100 and 50,000")
    if not 1 <= arguments.channels <= 100:  # noqa: PLR2004
        parser.error("--channels must be between 1 and 100")
    if not 1 <= arguments.channel_rate <= 1000:  # noqa: PLR2004
        parser.error("--channel-rate must be between 1 and 1,000 (Channel.max_messages_per_second)")
    if not 1 <= arguments.workers <= 8 or not 1 <= arguments.concurrency <= 16:  # noqa: PLR2004
        parser.error("--workers must be between 1 and 8 and --concurrency between 1 and 16")
    if not 1 <= arguments.paced_rate <= 500 or not 1 <= arguments.paced_seconds <= 60:  # noqa: PLR2004
        parser.error("--paced-rate must be between 1 and 500 and --paced-seconds between 1 and 60")
    if not 1 <= arguments.paced_rounds <= 10:  # noqa: PLR2004
        parser.error("--paced-rounds must be between 1 and 10")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        print("Outbound dispatch (bench/dispatch.py): needs PostgreSQL and Redis (DATABASE_URL and REDIS_URL);")
        print("run it through `make bench` or `python -m core.services_probe exec -- ...`. Nothing measured.")
        return 1 if arguments.strict else 0
    pid = os.getpid()
    temp_dir = Path(tempfile.mkdtemp(prefix="bench_dispatch_"))
    queue = f"bench_dispatch_{pid}"
    redis_url = os.environ["REDIS_URL"]
    try:
        write_settings(temp_dir, queue)
        with throwaway_database(f"bench_dispatch_{pid}") as database_url:
            environment = Environment(temp_dir, database_url, redis_url, queue)
            return run(arguments, environment, started)
    finally:
        queue_delete(redis_url, queue)
        shutil.rmtree(temp_dir, ignore_errors=True)


def run(arguments: argparse.Namespace, environment: Environment, started: float) -> int:
    migrated = migrate(environment)
    with simulator("--status-batch", str(STATUS_BATCH)) as sim, simulator() as sink:
        environment.graph_url = sim.url
        dispatch_django_setup(environment)
        import django
        from django.conf import settings

        from messaging.outbound.dispatch.calls import CALL_THREADS
        from messaging.outbound.dispatch.relay import DISPATCH_BATCH

        sink_url = f"{sink.url}/_sim/sink"
        statuses = arguments.status_webhooks
        channels = register(arguments.channels, arguments.channel_rate, sim, sink_url, statuses=statuses)
        serial = iter(range(1, 10_000_000))
        print("Outbound dispatch: workers against a durable floor on the same workers (bench/dispatch.py)")
        print(f"Python {platform.python_version()}, Django {django.get_version()}, {os.cpu_count()} CPUs")
        print(f"Database: {describe_database()} (migrated in {migrated:.1f} s)")
        print(f"Broker: Redis, queue {environment.queue} (deleted at the end); rate limits in Redis")
        print(
            f"Workers: {arguments.workers} x `celery worker {pool_options(arguments.concurrency)}`;"
            f" {DISPATCH_BATCH} messages per relay task,"
            f" {CALL_THREADS} call threads per process; rate guard {settings.GATEWAY_SEND_RATE_GUARD_MS} ms"
        )
        webhooks = (
            f"status webhooks (3 per send, up to {STATUS_BATCH} per POST when backed up) to a second simulator's sink"
            if statuses
            else "no status webhooks (--status-webhooks turns them on: they load the shared cores, not the gateway)"
        )
        print(f"Simulator: its own process, {webhooks}; channels with no limit of their own")

        with (
            workers(environment, arguments.workers, arguments.concurrency) as processes,
            relay_process(environment) as relay,
        ):
            warm = messages_queue(channels, WARMUP_PER_CHANNEL * len(channels), serial=serial)
            warmed = wait_settled(warm, 120)
            if warmed["accepted"] < len(warm):
                raise RuntimeError(f"warm-up did not settle: {dict(warmed)}; see {environment.temp_dir}/worker-*.log")
            pids = {
                "workers": [pid for process in processes for pid in session_pids(process.pid)],
                "relay/beat": [relay.pid],
                "simulator": [sim.pid],
                "webhook sink": [sink.pid],
                "bench (poll)": [os.getpid()],
            }
            floor_tables_create()
            floors = [run_floor(channels, sim, arguments.messages, serial, pids)]
            channels_rate_set(channels, TOP_TIER_RATE)
            top = run_throughput(channels, sim, arguments.messages, serial, pids)
            floors.append(run_floor(channels, sim, arguments.messages, serial, pids))
            channels_rate_set(channels, arguments.channel_rate)
            limited = run_throughput(channels, sim, arguments.messages, serial, pids)
            sim.webhooks_idle()
            relay_stop(relay)
            paced = run_paced(channels, arguments.paced_rate, arguments.paced_seconds, serial, arguments.paced_rounds)
            exited = [process.returncode for process in processes if process.poll() is not None]
        in_process = run_in_process(channels, serial)

    report_floor(arguments, floors)
    verdicts = report_gateway(arguments, floors, top, limited, exited)
    verdicts += report_paced(paced, arguments)
    report_in_process(in_process)
    return print_targets(verdicts, (44, 12, 12), strict=arguments.strict, started=started)


if __name__ == "__main__":
    sys.exit(main())
