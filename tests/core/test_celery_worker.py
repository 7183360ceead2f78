"""A real Celery worker process consumes what the app publishes, on Redis or the embedded broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from core.models import ThrottleBucket
from core.tasks import enqueue_on_commit, throttle_prune_task

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    return f"postgres://{config['USER']}@{config['HOST']}:{config['PORT']}/{config['NAME']}"


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": _database_url()}
    command = [
        sys.executable,
        "-m",
        "celery",
        "--app",
        "gateway",
        "worker",
        "--queues",
        "maintenance",
        "--pool",
        "solo",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "WARNING",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield process
    process.terminate()
    process.wait(timeout=30)


def _wait_for(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_worker_process_runs_a_task_published_on_commit(worker: subprocess.Popen[bytes]) -> None:
    past = timezone.now() - timedelta(hours=2)
    ThrottleBucket.objects.create(key="stale", window_ends_at=past)
    ThrottleBucket.objects.create(key="fresh", window_ends_at=timezone.now() + timedelta(hours=1))

    enqueue_on_commit(throttle_prune_task)

    assert _wait_for(lambda: not ThrottleBucket.objects.filter(key="stale").exists()), worker.stderr
    assert list(ThrottleBucket.objects.values_list("key", flat=True)) == ["fresh"]
    assert worker.poll() is None
