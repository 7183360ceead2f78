"""The processes of bench/dispatch.py: its settings, its simulator channel, the outbound workers and beat's relay
(the simulator, the worker processes and the pump are _lib's)."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from _lib.environment import ROOT, django_setup
from _lib.processes import stop
from _lib.pump import Pump, pumping
from _lib.workers import celery_workers

APP_SECRET = "bench-dispatch-app-secret-0123456789"
SIM_TOKEN = "bench-dispatch-token-0123456789"  # the channels' access token at the simulator
RELAY_INTERVAL_SECONDS = 0.5  # beat's part during the runs (the relay alone; no sweeps are needed)


@dataclass
class Environment:
    temp_dir: Path
    database_url: str
    redis_url: str
    queue: str
    graph_url: str = ""

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench_dispatch_settings",
            "PYTHONPATH": os.pathsep.join([str(self.temp_dir), str(ROOT), str(ROOT / "bench")]),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "GATEWAY_GRAPH_BASE_URL": self.graph_url,
            "GATEWAY_LOG_LEVEL": "WARNING",
            "BENCH_FLOOR_TOKEN": SIM_TOKEN,
        }


def write_settings(temp_dir: Path, queue: str) -> None:
    """The project's settings, with ``outbound.*`` tasks and the floor's routed to a queue of this run's own, and
    the floor's task module imported by the workers."""
    (temp_dir / "bench_dispatch_settings.py").write_text(
        textwrap.dedent(
            f"""\
            from gateway.settings import *  # noqa: F403

            CELERY_TASK_ROUTES = {{  # noqa: F405
                **CELERY_TASK_ROUTES,  # noqa: F405
                "outbound.*": {{"queue": {queue!r}}},
                "bench_floor.*": {{"queue": {queue!r}}},
            }}
            CELERY_IMPORTS = ("_dispatch.floor_tasks",)
            """
        )
    )


def dispatch_django_setup(environment: Environment) -> None:
    variables = environment.env().items()
    django_setup(
        {name: value for name, value in variables if name.startswith(("DJANGO_", "DATABASE_", "REDIS_", "GATEWAY_"))},
        [environment.temp_dir],
    )


def simulator_channel(provider_id: str, token: str, sink_url: str, *, statuses: bool) -> dict[str, Any]:
    """A channel with no limit of its own (the per-second histogram then shows the gateway's own pacing), no
    window and no pair limit; with ``statuses``, posting its three statuses per send to the sink."""
    return {
        "platform": "whatsapp",
        "provider_id": provider_id,
        "access_token": token,
        "app_secret": APP_SECRET,
        "webhook_url": sink_url,
        "mps": 100_000,
        "pair_period_seconds": 0,
        "enforce_window": False,
        **({} if statuses else {"status_delays_ms": None}),
    }


@contextmanager
def workers(environment: Environment, count: int, concurrency: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` Celery worker processes on this run's queue, each with ``concurrency`` prefork children, as
    deploy/compose.yaml runs the outbound worker (1: the solo pool, as the tests run them). The main process holds
    the countdown tasks and hands each to a free child when it is due; a solo worker can only start one between
    two tasks of its own."""
    with celery_workers(
        environment.env(),
        count,
        queue=environment.queue,
        name="bench-dispatch",
        log_dir=environment.temp_dir,
        pool="prefork" if concurrency > 1 else "solo",
        concurrency=concurrency,
    ) as processes:
        yield processes


def relay_once(grace: timedelta = timedelta(0)) -> None:
    from django.utils import timezone

    from messaging.outbound.dispatch.relay import outbox_relay

    outbox_relay(now=timezone.now(), grace=grace)


@contextmanager
def relay_process(environment: Environment) -> Iterator[subprocess.Popen[bytes]]:
    """Beat's part in a process of its own (``relay_loop.py``): its CPU is counted apart from the bench's."""
    log = (environment.temp_dir / "relay.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, str(Path(__file__).with_name("relay_loop.py"))],
        cwd=ROOT,
        env=environment.env(),
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        relay_stop(process)
        log.close()


def relay_stop(process: subprocess.Popen[bytes]) -> None:
    """The relay process stopped (before the paced phase, whose relay runs in a thread of the bench)."""
    stop(process, grace=30, after_kill=10)


@contextmanager
def relay_pump(grace: timedelta = timedelta(0)) -> Iterator[Pump]:
    """Beat's part, in a thread: the outbox relay every RELAY_INTERVAL_SECONDS, publishing rows ``grace`` old
    (none by default: the bulk-written backlogs are published by nothing else; beat's own grace where the send
    API's publish on commit is the way in)."""
    with pumping(functools.partial(relay_once, grace), RELAY_INTERVAL_SECONDS) as pump:
        yield pump


def pool_options(concurrency: int) -> str:
    return f"--pool prefork --concurrency {concurrency}" if concurrency > 1 else "--pool solo"
