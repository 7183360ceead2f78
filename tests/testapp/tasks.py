"""A task for the broker tests: it appends its token to a file, one line per run. Nothing here loads Django's
models, so a spawned process can publish it."""

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
