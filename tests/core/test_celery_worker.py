"""A real Celery worker process consumes what the app publishes, on Redis or the embedded broker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import ThrottleBucket
from core.tasks import enqueue_on_commit, throttle_prune_task
from tests.conftest import wait_for, worker_process

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_worker_process_runs_a_task_published_on_commit() -> None:
    past = timezone.now() - timedelta(hours=2)
    ThrottleBucket.objects.create(key="stale", window_ends_at=past)
    ThrottleBucket.objects.create(key="fresh", window_ends_at=timezone.now() + timedelta(hours=1))

    with worker_process("maintenance") as worker:
        enqueue_on_commit(throttle_prune_task)

        assert wait_for(lambda: not ThrottleBucket.objects.filter(key="stale").exists()), worker.stderr
        assert list(ThrottleBucket.objects.values_list("key", flat=True)) == ["fresh"]
        assert worker.poll() is None
