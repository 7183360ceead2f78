"""Real Celery worker and beat processes refuse unsafe production settings before they consume or publish.

Each refusal here is one real process on the example production environment pointed at this test's PostgreSQL
and Redis; tests/gateway/test_checks.py passes every unsafe setting through the same gate in-process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from core.models import ThrottleBucket
from core.redis import redis_client, redis_configured
from core.tasks import enqueue_on_commit, throttle_prune_task
from tests.conftest import subprocess_database_url, uses_postgresql, wait_for
from tests.gateway.support import ROOT, SHARED_SECRET, production_env, run_python

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (redis_configured() and uses_postgresql()), reason="production runs on PostgreSQL and Redis (CI has both)"
    ),
]

WORKER = ("worker", "--queues", "maintenance", "--pool", "solo", "--without-gossip", "--without-mingle")
BEAT = ("beat",)
REUSED_SECRET = {
    "DJANGO_SECRET_KEY_FILE": None,
    "GATEWAY_API_KEY_PEPPER_FILE": None,
    "DJANGO_SECRET_KEY": SHARED_SECRET,
    "GATEWAY_API_KEY_PEPPER": SHARED_SECRET,
}


def celery_env(tmp_path: Path, changes: dict[str, str | None] | None = None) -> dict[str, str]:
    """The example production environment on this test's database and broker, then ``changes``. The local
    PostgreSQL and Redis speak no TLS, so the processes are told the path to them is private (a warning only)."""
    services = {
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "GATEWAY_SERVICES_TLS": "off",
    }
    return production_env(tmp_path, {**services, **(changes or {})})


def celery_arguments(*arguments: str) -> list[str]:
    return ["-m", "celery", "--app", "gateway", *arguments, "--loglevel", "INFO"]


@contextmanager
def celery_process(env: dict[str, str], log: Path, *arguments: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, *celery_arguments(*arguments)], cwd=ROOT, env=env, stdout=output, stderr=output
        )
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)


def queued_tasks() -> int:
    return sum(redis_client().llen(queue) for queue in settings.CELERY_QUEUE_NAMES)


def publish_throttle_prune() -> None:
    ThrottleBucket.objects.create(key="stale", window_ends_at=timezone.now() - timedelta(hours=2))
    enqueue_on_commit(throttle_prune_task)
    assert queued_tasks() == 1


@pytest.mark.parametrize(
    ("changes", "check_id"),
    [
        pytest.param({"DJANGO_DEBUG": "1"}, "gateway.E008", id="gateway.E008"),
        pytest.param({"GATEWAY_HSTS_PRELOAD": "0"}, "gateway.E013", id="gateway.E013"),
        pytest.param(REUSED_SECRET, "gateway.E017", id="gateway.E017"),
    ],
)
def test_worker_refuses_unsafe_production_before_consuming(
    tmp_path: Path, changes: dict[str, str | None], check_id: str
) -> None:
    publish_throttle_prune()

    worker = run_python(celery_env(tmp_path, changes), *celery_arguments(*WORKER))

    assert worker.returncode == 1, worker.stderr
    assert check_id in worker.stderr
    assert "ready." not in worker.stdout + worker.stderr
    assert queued_tasks() == 1
    assert ThrottleBucket.objects.filter(key="stale").exists()
    assert SHARED_SECRET not in worker.stdout + worker.stderr


@pytest.mark.parametrize(
    ("changes", "check_id"),
    [
        pytest.param({"DJANGO_DEBUG": "1"}, "gateway.E008", id="gateway.E008"),
        pytest.param({"GATEWAY_SSL_REDIRECT": "0"}, "gateway.E012", id="gateway.E012"),
        pytest.param({"DJANGO_CSRF_TRUSTED_ORIGINS": "http://gateway.example.com"}, "gateway.E016", id="gateway.E016"),
    ],
)
def test_beat_refuses_unsafe_production_before_publishing(
    tmp_path: Path, changes: dict[str, str | None], check_id: str
) -> None:
    beat = run_python(celery_env(tmp_path, changes), *celery_arguments(*BEAT))

    assert beat.returncode == 1, beat.stderr
    assert check_id in beat.stderr
    assert queued_tasks() == 0


def test_worker_consumes_with_the_safe_production_env(tmp_path: Path) -> None:
    publish_throttle_prune()
    log = tmp_path / "worker.log"

    with celery_process(celery_env(tmp_path), log, *WORKER) as worker:
        assert wait_for(lambda: not ThrottleBucket.objects.filter(key="stale").exists()), log.read_text()
        assert worker.poll() is None

    assert queued_tasks() == 0
    assert "ready." in log.read_text()


def test_beat_publishes_with_the_safe_production_env(tmp_path: Path) -> None:
    log = tmp_path / "beat.log"

    with celery_process(celery_env(tmp_path), log, *BEAT) as beat:
        assert wait_for(lambda: queued_tasks() > 0), log.read_text()
        assert beat.poll() is None


def test_beat_keeps_logging_after_its_start_check(tmp_path: Path) -> None:
    """The start check runs after beat has redirected ``sys.stderr`` into its logger: setting Django up again
    there would point the log handler into that redirect, where every line is dropped. Beat logs each task it
    publishes (at INFO) from its first tick on."""
    log = tmp_path / "beat.log"

    with celery_process(celery_env(tmp_path, {"GATEWAY_TASK_LOG_LEVEL": "INFO"}), log, *BEAT) as beat:
        assert wait_for(lambda: "Scheduler: Sending due task" in log.read_text()), log.read_text()
        assert beat.poll() is None
