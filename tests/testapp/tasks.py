"""Tasks for the worker tests: each appends a token to a file, one line per run. Nothing here loads Django's
models at import, so a spawned process can publish them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import shared_task


@shared_task(name="maintenance.test_token_record")
def token_record(path: str, token: str) -> None:
    with Path(path).open("a") as file:  # one short append: lines from several workers never interleave
        file.write(f"{token}\n")


@shared_task(name="maintenance.test_token_record_and_hold")
def token_record_and_hold(path: str, token: str, release_path: str) -> None:
    """Records the token and this process's id, then holds the task until ``release_path`` exists."""
    token_record(path, f"{token} {os.getpid()}")
    while not Path(release_path).exists():
        time.sleep(0.05)


def token_record_publish(path: Path, producer: int, count: int) -> None:
    """Publishes ``count`` tasks with the tokens ``<producer>-<sequence>`` (run in a process of its own)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    from gateway.celery import app

    for sequence in range(count):
        app.send_task("maintenance.test_token_record", args=[str(path), f"{producer}-{sequence}"])


@shared_task(name="maintenance.test_backend_record")
def backend_record(path: str, *, fail: bool = False, leave_open: bool = False) -> None:
    """Appends the id of the database server process this task's connection talks to; ``leave_open`` then
    begins a transaction behind Django's back, ``fail`` raises after the query."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
        if leave_open:
            cursor.execute("BEGIN")
    token_record(path, str(backend))
    if fail:
        raise RuntimeError("this task fails on purpose")
