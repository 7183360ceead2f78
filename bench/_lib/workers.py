"""Celery worker processes of a run, on its own queue, each in a session of its own, stopped at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _lib.environment import ROOT
from _lib.processes import stop


@contextmanager
def celery_workers(
    env: dict[str, str],
    count: int,
    *,
    queue: str,
    name: str,
    log_dir: Path,
    pool: str = "solo",
    concurrency: int = 1,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker processes on ``queue`` (``--pool solo`` as the tests run them, unless ``pool``), logging
    warnings to ``<log_dir>/<name>-<index>.log``; SIGTERM at the end (SIGKILL of their session after 30 s)."""
    with ExitStack() as stack:
        processes = []
        for index in range(count):
            log = stack.enter_context((log_dir / f"{name}-{index}.log").open("wb"))
            command = [
                sys.executable,
                "-m",
                "celery",
                "--app",
                "gateway",
                "worker",
                "--queues",
                queue,
                "--pool",
                pool,
                *(("--concurrency", str(concurrency)) if pool != "solo" else ()),
                "--hostname",
                f"{name}-{index}-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
            ]
            process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
            )
            stack.callback(stop, process, grace=30, after_kill=10)
            processes.append(process)
        yield processes
