"""The gateway under gunicorn, with the project's settings plus a bare floor view and a Celery queue of the run's
own (bench/ingest.py and bench/purge.py)."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _lib.environment import ROOT, django_setup
from _lib.http_load import request_once
from _lib.processes import free_port, stop

GUNICORN_OPTIONS = ("--workers", "2", "--threads", "4")  # as deploy/Procfile.dev, without the access log


@dataclass
class Environment:
    temp_dir: Path
    database_url: str  # the throwaway database ("" for SQLite: GATEWAY_VAR_DIR is the temp dir)
    redis_url: str
    queue: str  # the Celery queue this run publishes to
    description: str = ""

    def env(self) -> dict[str, str]:
        values = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench_ingest_settings",
            "PYTHONPATH": os.pathsep.join([str(self.temp_dir), str(ROOT)]),
        }
        if self.database_url:
            values["DATABASE_URL"] = self.database_url
        else:
            values.pop("DATABASE_URL", None)
            values["GATEWAY_SQLITE_FILE"] = str(self.temp_dir / "bench.sqlite3")
        return values


def server_django_setup(environment: Environment) -> None:
    names = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "GATEWAY_SQLITE_FILE"}
    if not environment.database_url:
        os.environ.pop("DATABASE_URL", None)
    django_setup({name: value for name, value in environment.env().items() if name in names}, [environment.temp_dir])


def write_modules(temp_dir: Path, queue: str, routes: Mapping[str, str] | None = None) -> None:
    """A settings module (the project's, plus the floor URL and a queue of this run's own for ``ingest.*``, and
    for each pattern of ``routes`` its queue) and its URLconf."""
    task_routes = {
        "ingest.*": {"queue": queue},
        **{pattern: {"queue": name} for pattern, name in (routes or {}).items()},
    }
    (temp_dir / "bench_ingest_settings.py").write_text(
        textwrap.dedent(
            f"""\
            import os
            import sys

            sys.path.insert(0, {str(temp_dir)!r})

            from gateway.settings import *  # noqa: F403

            ROOT_URLCONF = "bench_ingest_urls"
            CELERY_TASK_ROUTES = {task_routes!r}
            if os.environ.get("GATEWAY_SQLITE_FILE"):
                DATABASES["default"]["NAME"] = os.environ["GATEWAY_SQLITE_FILE"]  # noqa: F405
            if not REDIS_URL:  # noqa: F405  (the filesystem broker: this run's own folders, not var/broker)
                for _folder in ("queue", "processed", "control"):
                    os.makedirs(os.path.join({str(temp_dir)!r}, "broker", _folder), exist_ok=True)
                CELERY_BROKER_TRANSPORT_OPTIONS = {{
                    **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
                    "data_folder_in": os.path.join({str(temp_dir)!r}, "broker", "queue"),
                    "data_folder_out": os.path.join({str(temp_dir)!r}, "broker", "queue"),
                    "processed_folder": os.path.join({str(temp_dir)!r}, "broker", "processed"),
                    "control_folder": os.path.join({str(temp_dir)!r}, "broker", "control"),
                }}
            """
        )
    )
    (temp_dir / "bench_ingest_urls.py").write_text(
        textwrap.dedent(
            """\
            from django.http import HttpResponse
            from django.urls import include, path
            from django.views.decorators.csrf import csrf_exempt


            @csrf_exempt
            def floor_view(request):
                return HttpResponse(status=200)


            urlpatterns = [path("bench/floor/", floor_view), path("", include("gateway.urls"))]
            """
        )
    )


@dataclass(frozen=True)
class Server:
    port: int
    pid: int  # gunicorn's master: it leads a session of its own, and its workers are in it


@contextmanager
def gunicorn(environment: Environment) -> Iterator[Server]:
    port = free_port()
    log = environment.temp_dir / "gunicorn.log"
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "gateway.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        *GUNICORN_OPTIONS,
        "--error-logfile",
        str(log),
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=environment.env(), start_new_session=True)  # noqa: S603
    try:
        answered(process, port, log)
        yield Server(port, process.pid)
    finally:
        stop(process, grace=15, after_kill=5)  # the master stops its own workers


def answered(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Wait until gunicorn answers the floor view (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if request_once(port, "GET", "/bench/floor/", b"", {}) == http.client.OK:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not answer within 30 s:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
