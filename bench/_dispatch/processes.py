"""The processes of bench/dispatch.py: its settings, the simulators, the outbound workers and beat's relay."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _lib.environment import ROOT, django_setup
from _lib.processes import stop

APP_SECRET = "bench-dispatch-app-secret-0123456789"
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
            "PYTHONPATH": os.pathsep.join([str(self.temp_dir), str(ROOT)]),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "GATEWAY_GRAPH_BASE_URL": self.graph_url,
            "GATEWAY_LOG_LEVEL": "WARNING",
        }


def write_settings(temp_dir: Path, queue: str) -> None:
    """The project's settings, with ``outbound.*`` tasks routed to a queue of this run's own."""
    (temp_dir / "bench_dispatch_settings.py").write_text(
        textwrap.dedent(
            f"""\
            from gateway.settings import *  # noqa: F403

            CELERY_TASK_ROUTES = {{**CELERY_TASK_ROUTES, "outbound.*": {{"queue": {queue!r}}}}}  # noqa: F405
            """
        )
    )


def dispatch_django_setup(environment: Environment) -> None:
    variables = environment.env().items()
    django_setup(
        {name: value for name, value in variables if name.startswith(("DJANGO_", "DATABASE_", "REDIS_", "GATEWAY_"))},
        [environment.temp_dir],
    )


@dataclass(frozen=True)
class Simulator:
    url: str
    pid: int

    def request(self, method: str, path: str, body: object = None) -> Any:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        try:
            connection.request(method, path, body=None if body is None else json.dumps(body))
            response = connection.getresponse()
            answer = json.loads(response.read() or b"null")
            if not 200 <= response.status < 300:  # noqa: PLR2004
                raise RuntimeError(f"simulator {method} {path}: {response.status} {answer}")
            return answer
        finally:
            connection.close()

    def webhooks_idle(self, seconds: float = 60.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.request("GET", "/_sim/webhooks")["idle"]:
                return True
            time.sleep(0.2)
        return False


@contextmanager
def simulator(*arguments: str) -> Iterator[Simulator]:
    from simulator.capacity import simulator_process

    with simulator_process(*arguments) as running:
        if running.pid is None:
            raise RuntimeError("the simulator did not start")
        yield Simulator(running.url, running.pid)


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
def workers(environment: Environment, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` Celery worker processes (solo pool, as the tests run them) on this run's queue."""
    with ExitStack() as stack:
        processes = []
        for index in range(count):
            log = stack.enter_context((environment.temp_dir / f"worker-{index}.log").open("wb"))
            command = [
                sys.executable,
                "-m",
                "celery",
                "--app",
                "gateway",
                "worker",
                "--queues",
                environment.queue,
                "--pool",
                "solo",
                "--hostname",
                f"bench-dispatch-{index}-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
            ]
            process = subprocess.Popen(  # noqa: S603
                command,
                cwd=ROOT,
                env=environment.env(),
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
            stack.callback(stop, process, grace=30, after_kill=10)
            processes.append(process)
        yield processes


class RelayPump:
    """Beat's part, in a thread: the outbox relay every RELAY_INTERVAL_SECONDS."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from django.db import connection
        from django.utils import timezone

        from messaging.outbound.dispatch.relay import outbox_relay

        try:
            while not self.stopped.wait(RELAY_INTERVAL_SECONDS):
                outbox_relay(now=timezone.now(), grace=timedelta(0))
        except BaseException as error:  # reported by the caller
            self.errors.append(error)
        finally:
            connection.close()


@contextmanager
def relay_pump() -> Iterator[RelayPump]:
    pump = RelayPump()
    pump.thread.start()
    try:
        yield pump
    finally:
        pump.stopped.set()
        pump.thread.join(timeout=30)
    if pump.errors:
        raise pump.errors[0]
