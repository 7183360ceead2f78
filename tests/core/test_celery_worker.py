"""A real Celery worker process consumes what the app publishes, on Redis or the embedded broker."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from core.models import ThrottleBucket
from core.tasks import enqueue_on_commit, throttle_prune_task
from gateway.celery import app
from tests.conftest import wait_for, worker_process
from tests.testapp.tasks import token_record_publish

PRODUCERS = 3
TASKS_PER_PRODUCER = 100

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_worker_process_runs_a_task_published_on_commit() -> None:
    past = timezone.now() - timedelta(hours=2)
    ThrottleBucket.objects.create(key="stale", window_ends_at=past)
    ThrottleBucket.objects.create(key="fresh", window_ends_at=timezone.now() + timedelta(hours=1))

    with worker_process("maintenance") as worker:
        enqueue_on_commit(throttle_prune_task)

        assert wait_for(lambda: not ThrottleBucket.objects.filter(key="stale").exists()), worker.log()
        assert list(ThrottleBucket.objects.values_list("key", flat=True)) == ["fresh"]
        assert worker.poll() is None


def test_tasks_published_by_several_processes_run_once_each_on_two_workers(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.touch()
    context = multiprocessing.get_context("spawn")
    producers = [
        context.Process(target=token_record_publish, args=(path, number, TASKS_PER_PRODUCER))
        for number in range(PRODUCERS)
    ]
    expected = Counter(
        f"{producer}-{sequence}" for producer in range(PRODUCERS) for sequence in range(TASKS_PER_PRODUCER)
    )

    with worker_process("maintenance") as first, worker_process("maintenance") as second:
        for process in producers:
            process.start()
        for process in producers:
            process.join()
        assert wait_for(lambda: len(path.read_text().splitlines()) >= len(expected)), first.log() + second.log()
        assert (first.poll(), second.poll()) == (None, None)

    assert [process.exitcode for process in producers] == [0] * PRODUCERS
    assert Counter(path.read_text().splitlines()) == expected


def test_a_task_whose_worker_process_is_killed_is_run_again(tmp_path: Path) -> None:
    """acks_late with reject_on_worker_lost: the worker's parent puts the message back, another child runs it."""
    path, release = tmp_path / "tokens", tmp_path / "release"
    path.touch()

    with worker_process("maintenance", pool="prefork") as worker:
        app.send_task("maintenance.test_token_record_and_hold", args=[str(path), "held", str(release)])
        assert wait_for(lambda: len(path.read_text().splitlines()) == 1), worker.log()
        os.kill(int(path.read_text().split()[1]), signal.SIGKILL)
        release.touch()
        assert wait_for(lambda: len(path.read_text().splitlines()) == 2), worker.log()

    runs = [line.split() for line in path.read_text().splitlines()]
    assert [token for token, _ in runs] == ["held", "held"]
    assert runs[0][1] != runs[1][1]


def test_a_worker_that_cannot_start_says_why_in_its_log() -> None:
    with worker_process("maintenance", env={"DJANGO_SETTINGS_MODULE": "tests.no_such_settings"}) as worker:
        assert wait_for(lambda: worker.poll() is not None)
        assert "No module named 'tests.no_such_settings'" in worker.log()
