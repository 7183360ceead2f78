"""Memory: web and worker RSS after warm-up and after the whole load (no growth beyond warm-up), and the peak RSS of
a subject export of one contact with many messages.

1. Gunicorn (2 workers x 4 threads), ingest and outbound Celery workers (``--pool solo``) and a simulator of the run's
   own. The load: ``--webhooks`` signed WhatsApp text webhooks (8 keep-alive connections, 200 customers in turn,
   every one stored and fanned out by the ingest workers) and ``--sends`` queued sends (published by the outbox
   relay, every one accepted by the simulator). RSS and PSS of every process (/proc) are read before the load,
   after the warm-up (``--warmup-share`` of both, 10 %) and after the rest. Target, per process: growth after
   warm-up <= 10 % of its warm-up RSS, or 10 MB if that is more.
2. One contact with ``--export-messages`` messages (status event each), seeded through the ORM; the export built in a
   process of its own as the maintenance task builds it, which reports its VmHWM. Target: <= 200 MB.

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL: ``make bench`` finds them); a throwaway database
(``bench_memory_<pid>``) and queues of the run's own, deleted at the end. Exit status 0 unless ``--strict``.

    make bench
    .venv/bin/python -m core.services_probe exec -- .venv/bin/python bench/memory.py --webhooks 10000 --sends 2000
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _dispatch.messages import register as channels_register
from _lib.database import describe_database
from _lib.environment import migrate, queue_delete, throwaway_database
from _lib.report import Verdict, print_targets
from _lib.server import Environment, gunicorn, server_django_setup, write_modules
from _lib.simulator import simulator
from _lib.tenants import register
from _lib.workers import celery_workers
from _memory.export import contact_seed, export_measure
from _memory.load import Webhooks
from _memory.phases import Load, LoadTarget, Processes, load_run, memory_read
from _memory.report import GROWTH_FLOOR_MB, GROWTH_SHARE, Readings, growth_verdicts, report_export, report_readings

if TYPE_CHECKING:
    from messaging.models import Channel

CHANNEL_RATE = 1000  # Meta's top tier: the sends are not held back by the limit


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark memory: web and worker RSS after warm-up and after the load (growth <= 10 %% or 10 MB), and "
            "a subject export's peak RSS (<= 200 MB). Needs PostgreSQL and Redis. Exit status 0 unless --strict."
        )
    )
    parser.add_argument("--webhooks", type=int, default=100_000, help="webhooks in all (default 100,000)")
    parser.add_argument("--sends", type=int, default=20_000, help="sends in all (default 20,000)")
    parser.add_argument("--warmup-share", type=float, default=0.1, help="share of the load that is warm-up (0.1)")
    parser.add_argument(
        "--export-messages", type=int, default=100_000, help="messages of the exported contact; 0: none"
    )
    parser.add_argument("--export-only", action="store_true", help="only the export phase (no servers, no load)")
    parser.add_argument("--channels", type=int, default=10, help="WhatsApp channels the sends are spread over (10)")
    parser.add_argument("--ingest-workers", type=int, default=1, help="ingest worker processes (default 1)")
    parser.add_argument("--outbound-workers", type=int, default=1, help="outbound worker processes (default 1)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    arguments = parser.parse_args(argv)
    if not 0 <= arguments.webhooks <= 1_000_000 or not 0 <= arguments.sends <= 200_000:  # noqa: PLR2004
        parser.error("--webhooks must be between 0 and 1,000,000 and --sends between 0 and 200,000")
    if not 0.01 <= arguments.warmup_share <= 0.5:  # noqa: PLR2004
        parser.error("--warmup-share must be between 0.01 and 0.5")
    if not 0 <= arguments.export_messages <= 1_000_000:  # noqa: PLR2004
        parser.error("--export-messages must be between 0 and 1,000,000")
    if not 1 <= arguments.ingest_workers <= 4 or not 1 <= arguments.outbound_workers <= 4:  # noqa: PLR2004
        parser.error("--ingest-workers and --outbound-workers must be between 1 and 4")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        print("Memory (bench/memory.py): needs PostgreSQL and Redis (DATABASE_URL and REDIS_URL);")
        print("run it through `make bench` or `python -m core.services_probe exec -- ...`. Nothing measured.")
        return 1 if arguments.strict else 0
    pid = os.getpid()
    temp_dir = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    queues = (f"bench_memory_{pid}", f"bench_memory_{pid}_outbound")
    redis_url = os.environ["REDIS_URL"]
    os.environ.update(GATEWAY_MEDIA_ROOT=str(temp_dir / "media"), GATEWAY_LOG_LEVEL="WARNING")
    try:
        write_modules(temp_dir, queues[0], routes={"outbound.*": queues[1]})
        with throwaway_database(f"bench_memory_{pid}") as database_url:
            environment = Environment(temp_dir, database_url, redis_url, queues[0])
            return run(arguments, environment, queues[1], started)
    finally:
        for queue in queues:
            queue_delete(redis_url, queue)
        shutil.rmtree(temp_dir, ignore_errors=True)


def run(arguments: argparse.Namespace, environment: Environment, outbound_queue: str, started: float) -> int:
    migrated = migrate(environment)
    with simulator() as sim:
        os.environ["GATEWAY_GRAPH_BASE_URL"] = sim.url  # the workers' and this process's
        server_django_setup(environment)
        import django

        registered = register()
        channels = channels_register(arguments.channels, CHANNEL_RATE, sim, f"{sim.url}/_sim/sink", statuses=False)
        print("Memory: web and worker RSS over the load, and a subject export's peak (bench/memory.py)")
        print(f"Python {platform.python_version()}, Django {django.get_version()}, {os.cpu_count()} CPUs")
        print(f"Database: {describe_database()} (migrated in {migrated:.1f} s)")
        print(
            f"Target: RSS growth after warm-up <= {GROWTH_SHARE:.0%} of the warm-up RSS or {GROWTH_FLOOR_MB:.0f} MB,"
            " per process"
        )
        verdicts: list[Verdict] = []
        if not arguments.export_only:
            verdicts += load_phase(arguments, environment, outbound_queue, registered.app_key, channels)
    if arguments.export_messages:
        contact_id, seed_seconds = contact_seed(channels[0], arguments.export_messages)
        outcome = export_measure(environment.env(), contact_id, seed_seconds)
        verdicts.append(report_export(outcome, arguments.export_messages))
    return print_targets(verdicts, (44, 10, 12), strict=arguments.strict, started=started)


def load_phase(
    arguments: argparse.Namespace, environment: Environment, outbound_queue: str, app_key: str, channels: list[Channel]
) -> list[Verdict]:
    env = environment.env()
    workers = {"ingest worker": arguments.ingest_workers, "outbound worker": arguments.outbound_workers}
    with (
        gunicorn(environment) as server,
        celery_workers(
            env, workers["ingest worker"], queue=environment.queue, name="mem-ingest", log_dir=environment.temp_dir
        ) as ingest,
        celery_workers(
            env, workers["outbound worker"], queue=outbound_queue, name="mem-outbound", log_dir=environment.temp_dir
        ) as outbound,
    ):
        processes = Processes(server.pid, [process.pid for process in ingest], [process.pid for process in outbound])
        warm = Load(int(arguments.webhooks * arguments.warmup_share), int(arguments.sends * arguments.warmup_share))
        rest = Load(arguments.webhooks - warm.webhooks, arguments.sends - warm.sends)
        target = LoadTarget(server.port, f"/webhooks/meta/{app_key}/", Webhooks(), channels, itertools.count(1))
        readings: Readings = {"before load": memory_read(processes)}
        for name, load in (("after warm-up", warm), ("after the load", rest)):
            load_run(target, load, name)
            readings[name] = memory_read(processes)
    report_readings(readings)
    return growth_verdicts(readings, "after warm-up", "after the load", {"web": 2, **workers})


if __name__ == "__main__":
    sys.exit(main())
