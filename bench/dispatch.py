"""Outbound dispatch: sends/s against the simulator's raw capacity, queued-to-accepted latency, per-channel pacing.

1. Baseline: the simulator's raw capacity, plain keep-alive ``http.client`` connections from threads of this
   process (``simulator.capacity.measure``), measured before and after the gateway runs; the better one counts.
2. Throughput: 5,000 messages queued at once across 10 WhatsApp channels (80 messages/s each), published by
   the outbox relay, sent by two outbound worker processes. Targets: >= 500 sends/s and >= 0.5 of the
   baseline. Also: p50/p99 from the publish to ``accepted`` (the backlog drains, so this is a drain time),
   and the most sends the simulator counted in one wall-clock second on any channel (never above its limit).
3. Latency: messages written one at a time the way the send API writes them (message + outbox row, one
   ``outbound.send`` published on commit, the row stamped published) at 75/s, beat's relay running with its own
   grace; p50/p99 from ``queued`` (``received_at``) to ``accepted`` (the finish of the accepted attempt).
   Targets: p50 <= 50 ms and p99 <= 200 ms (NOISY when the rounds straddle one).
4. In-process cost per send of the two paths (one message per task, a batch per task) with the queries each
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

from _dispatch.messages import messages_queue, register, wait_settled
from _dispatch.phases import measure_baseline, run_in_process, run_paced, run_throughput
from _dispatch.processes import (
    Environment,
    dispatch_django_setup,
    relay_pump,
    simulator_channel,
    workers,
    write_settings,
)
from _dispatch.report import report_in_process, report_paced, report_throughput
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
            "Benchmark outbound dispatch: two worker processes sending queued messages to the simulator, against "
            "the simulator's raw capacity with a plain keep-alive client (targets >= 500 sends/s and >= 0.5x), "
            "latency from queued to accepted at 75/s (targets p50 <= 50 ms, p99 <= 200 ms), the most sends per "
            "second on a channel (never above its limit). "
            "Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL). Exit status 0 unless --strict."
        )
    )
    parser.add_argument("--messages", type=int, default=5000, help="queued at once for the throughput run")
    parser.add_argument("--channels", type=int, default=10, help="WhatsApp channels the messages are spread over")
    parser.add_argument("--channel-rate", type=int, default=CHANNEL_RATE, help="each channel's messages/s (80)")
    parser.add_argument("--workers", type=int, default=2, help="outbound worker processes (default 2)")
    parser.add_argument("--baseline-seconds", type=float, default=3.0, help="each baseline sample (default 3)")
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
    if not 1 <= arguments.workers <= 8:  # noqa: PLR2004
        parser.error("--workers must be between 1 and 8")
    if not 1 <= arguments.baseline_seconds <= 30:  # noqa: PLR2004
        parser.error("--baseline-seconds must be between 1 and 30")
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
        from simulator.capacity import CHANNEL_ID, TOKEN

        sink_url = f"{sink.url}/_sim/sink"
        statuses = arguments.status_webhooks
        sim.request("POST", "/_sim/channels", simulator_channel(CHANNEL_ID, TOKEN, sink_url, statuses=statuses))
        channels = register(arguments.channels, arguments.channel_rate, sim, sink_url, statuses=statuses)
        serial = iter(range(1, 10_000_000))
        print("Outbound dispatch: workers against the simulator's raw capacity (bench/dispatch.py)")
        print(f"Python {platform.python_version()}, Django {django.get_version()}, {os.cpu_count()} CPUs")
        print(f"Database: {describe_database()} (migrated in {migrated:.1f} s)")
        print(f"Broker: Redis, queue {environment.queue} (deleted at the end); rate limits in Redis")
        print(
            f"Workers: {arguments.workers} x `celery worker --pool solo`; {DISPATCH_BATCH} messages per relay task,"
            f" {CALL_THREADS} call threads per process; rate guard {settings.GATEWAY_SEND_RATE_GUARD_MS} ms"
        )
        webhooks = (
            f"status webhooks (3 per send, up to {STATUS_BATCH} per POST when backed up) to a second simulator's sink"
            if statuses
            else "no status webhooks (--status-webhooks turns them on: they load the shared cores, not the gateway)"
        )
        print(f"Simulator: its own process, {webhooks}; channels with no limit of their own")

        baselines = [measure_baseline(sim, arguments.baseline_seconds)]
        with workers(environment, arguments.workers) as processes:
            warm = messages_queue(channels, WARMUP_PER_CHANNEL * len(channels), serial=serial)
            with relay_pump():
                warmed = wait_settled(warm, 120)
            if warmed["accepted"] < len(warm):
                raise RuntimeError(f"warm-up did not settle: {dict(warmed)}; see {environment.temp_dir}/worker-*.log")
            pids = {
                "workers": [process.pid for process in processes],
                "simulator": [sim.pid],
                "webhook sink": [sink.pid],
                "bench (poll, relay)": [os.getpid()],
            }
            throughput = run_throughput(channels, sim, arguments.messages, serial, pids)
            sim.webhooks_idle()
            baselines.append(measure_baseline(sim, arguments.baseline_seconds))
            paced = run_paced(channels, arguments.paced_rate, arguments.paced_seconds, serial, arguments.paced_rounds)
            exited = [process.returncode for process in processes if process.poll() is not None]
        in_process = run_in_process(channels, serial)

    verdicts = report_throughput(arguments, baselines, throughput, exited)
    verdicts += report_paced(paced, arguments)
    report_in_process(in_process)
    return print_targets(verdicts, (44, 12, 12), strict=arguments.strict, started=started)


if __name__ == "__main__":
    sys.exit(main())
