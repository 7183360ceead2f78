"""A real gunicorn serving the gateway on a free 127.0.0.1 port, with the production config file
(deploy/gunicorn.conf.py), against this test's database; everything it logs goes to one file.

The test must commit what gunicorn should see: ``django_db(transaction=True)``.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, subprocess_database_url


@dataclass(frozen=True)
class LiveGunicorn:
    port: int
    log_path: Path

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def live_gunicorn(log_path: Path, env: dict[str, str] | None = None, *, workers: int = 1) -> Iterator[LiveGunicorn]:
    """The listening socket is made here and handed over (``fd://``): the port is known and free, with no race."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    environment = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **(env or {}),
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "gateway.wsgi",
        "--config",
        "deploy/gunicorn.conf.py",
        "--bind",
        f"fd://{listener.fileno()}",
        "--workers",
        str(workers),
        "--threads",
        "2",
        "--no-control-socket",  # its default path is per user: another gunicorn running here would share it
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, pass_fds=(listener.fileno(),)
        )
    listener.close()  # gunicorn holds its own copy
    try:
        yield LiveGunicorn(port=port, log_path=log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
