from __future__ import annotations

import json
import logging
import threading
import uuid

import pytest
from celery import Task

from core.clientip import client_ip
from core.logging import JsonFormatter
from core.tasks import UnsafeTaskArgumentError, enqueue_on_commit, lock_guarded
from core.tasks import throttle_prune_task as prune


class RecordingTask:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def apply_async(self, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        self.calls.append((args, kwargs))


@pytest.mark.django_db
def test_enqueue_publishes_only_when_the_transaction_commits(django_capture_on_commit_callbacks) -> None:
    task = RecordingTask()
    tenant_id = uuid.uuid4()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enqueue_on_commit(task, tenant_id, attempt=2)  # type: ignore[arg-type]
        assert task.calls == []
    for callback in callbacks:
        callback()

    assert task.calls == [((str(tenant_id),), {"attempt": 2})]


@pytest.mark.parametrize("argument", [{"body": "hello"}, ["a"], "x" * 65, "hello", "+14155550100", b"bytes", 1.5])
def test_enqueue_refuses_anything_but_ids_and_flags(argument: object) -> None:
    with pytest.raises(UnsafeTaskArgumentError):
        enqueue_on_commit(RecordingTask(), argument)  # type: ignore[arg-type]


@pytest.mark.django_db(transaction=True)
def test_lock_guarded_runs_never_overlap() -> None:
    started, release = threading.Event(), threading.Event()
    results: list[dict[str, int]] = []

    @lock_guarded("overlap-test", ttl_seconds=60)
    def job() -> dict[str, int]:
        started.set()
        release.wait(10)
        return {"done": 1}

    first = threading.Thread(target=lambda: results.append(job()))
    first.start()
    started.wait(10)
    second = job()
    release.set()
    first.join(10)

    assert second == {"skipped": 1}
    assert results == [{"done": 1}]
    assert job() == {"done": 1}  # the lock was released


def test_periodic_tasks_are_registered_under_stable_names() -> None:
    assert isinstance(prune, Task)
    assert prune.name == "maintenance.throttle_prune"


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "192.0.2.1", "203.0.113.9", "192.0.2.1"),
        (1, "10.0.0.2", "203.0.113.9", "203.0.113.9"),
        (1, "10.0.0.2", "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        (2, "10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.3", "203.0.113.9"),
        (2, "10.0.0.2", "203.0.113.9", "203.0.113.9"),
        (1, "10.0.0.2", "", "10.0.0.2"),
    ],
)
def test_client_ip_trusts_exactly_the_configured_proxies(rf, settings, proxies, remote, forwarded, expected) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


def test_json_log_lines_carry_extra_ids_and_utc_time() -> None:
    record = logging.LogRecord("gateway", logging.INFO, __file__, 1, "sent %s", ("ok",), None)
    record.message_id = uuid.UUID(int=7)

    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == "sent ok"
    assert line["message_id"] == "00000000-0000-0000-0000-000000000007"
    assert line["ts"].endswith("+00:00")
