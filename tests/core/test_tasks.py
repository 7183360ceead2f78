from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from celery import Task

from core.clientip import client_ip
from core.logging import JsonFormatter
from core.tasks import (
    BATCH_GAP_SECONDS,
    BATCH_LINGER_SECONDS,
    BATCH_MAX,
    BatchPublisher,
    UnsafeTaskArgumentError,
    enqueue_by_name_on_commit,
    enqueue_on_commit,
    lock_guarded,
)
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


@pytest.mark.django_db
def test_enqueue_by_name_publishes_a_batch_of_ids_with_its_countdown_on_commit(
    django_capture_on_commit_callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, object, object]] = []
    monkeypatch.setattr(
        "core.tasks.current_app.send_task",
        lambda name, *, args, countdown: sent.append((name, args, countdown)),
    )
    first, second = uuid.uuid4(), uuid.uuid4()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enqueue_by_name_on_commit("outbound.example", [first, second], countdown=1.5)
        enqueue_by_name_on_commit("outbound.example", first)
        assert sent == []
    for callback in callbacks:
        callback()

    assert sent == [("outbound.example", [[str(first), str(second)]], 1.5), ("outbound.example", [str(first)], None)]
    with pytest.raises(UnsafeTaskArgumentError):
        enqueue_by_name_on_commit("outbound.example", [first, "hello"])


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


class SlowBatchTask:
    """Records each published batch; the first publish waits, so ids put meanwhile form a batch."""

    name = "test.batched"

    def __init__(self, *, fail_first: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.first_publish_started = threading.Event()
        self.release_first_publish = threading.Event()
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def apply_async(self, args: tuple[list[str]]) -> None:
        if not self.first_publish_started.is_set():
            self.first_publish_started.set()
            self.release_first_publish.wait(5)
            if self.fail_first:
                raise ConnectionError("broker down")
        with self.lock:
            self.batches.append(list(args[0]))


def _published(task: SlowBatchTask, count: int) -> list[str]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with task.lock:
            ids = [item for batch in task.batches for item in batch]
        if len(ids) >= count:
            return ids
        time.sleep(0.01)
    return ids


def test_the_batch_publisher_publishes_every_id_once_and_batches_what_waits() -> None:
    task = SlowBatchTask()
    publisher = BatchPublisher(task)  # type: ignore[arg-type]
    ids = [str(uuid.uuid4()) for _ in range(45)]

    publisher.put(ids[0])
    assert task.first_publish_started.wait(5)
    threads = [threading.Thread(target=publisher.put, args=(item,)) for item in ids[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    task.release_first_publish.set()

    published = _published(task, len(ids))
    assert sorted(published) == sorted(ids)
    assert max(len(batch) for batch in task.batches) == BATCH_MAX  # 44 waiting ids went out 20 at a time
    assert len(task.batches) == 1 + 3


class PacedArrivals:
    """Stands in for the publisher's condition: ids arrive one every ``every`` seconds of a fake clock, and a wait
    lets the clock run for its timeout, or until the batch is full (the one early wake-up ``put`` gives)."""

    def __init__(self, publisher: BatchPublisher, every: float) -> None:
        self.waiting = publisher._waiting
        self.every = every
        self.now = 0.0
        self.handed = 0
        self.timeouts: list[float] = []

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    def wait_for(self, predicate: Callable[[], object]) -> None:
        self.waiting.append("0")  # the batch's first id, at time 0
        self.handed = 1

    def wait(self, timeout: float) -> None:
        self.timeouts.append(timeout)
        end = self.now + timeout
        while self.handed * self.every <= end and len(self.waiting) < BATCH_MAX:
            self.now = self.handed * self.every
            self.waiting.append(str(self.handed))
            self.handed += 1
        if len(self.waiting) < BATCH_MAX:
            self.now = end


@pytest.mark.parametrize(
    ("every", "batch_size"),
    [
        (0.001, BATCH_MAX),  # a busy process: the batch fills up
        (0.004, 13),  # steady ids under the gap: the batch closes at the linger (the first, then 12 in 48 ms)
        (0.02, 1),  # a lone id: published after one gap, not after the whole linger
    ],
)
def test_a_batch_closes_when_full_at_the_linger_or_after_a_quiet_gap(
    monkeypatch: pytest.MonkeyPatch, every: float, batch_size: int
) -> None:
    publisher = BatchPublisher(SlowBatchTask())  # type: ignore[arg-type]
    paced = PacedArrivals(publisher, every)
    publisher._arrived = paced  # type: ignore[assignment]
    monkeypatch.setattr("core.tasks.time.monotonic", lambda: paced.now)

    assert len(publisher._take(block=True)) == batch_size
    assert max(paced.timeouts) <= BATCH_GAP_SECONDS
    assert paced.now <= BATCH_LINGER_SECONDS


class CountingCondition(threading.Condition):
    def __init__(self) -> None:
        super().__init__(threading.Lock())
        self.notified = 0

    def notify(self, n: int = 1) -> None:
        self.notified += 1
        super().notify(n)


def test_put_wakes_the_publisher_only_for_a_batch_first_id_and_when_it_is_full() -> None:
    publisher = BatchPublisher(SlowBatchTask())  # type: ignore[arg-type]
    publisher._pid = os.getpid()  # as if started: no thread takes the ids in this test
    publisher._arrived = counting = CountingCondition()

    for number in range(2 * BATCH_MAX + 5):
        publisher.put(str(number))

    assert counting.notified == 2  # the first id, and the 20th; ids 21 to 45 wait for the thread's next look
    assert publisher._take(block=False) == [str(number) for number in range(BATCH_MAX)]


def test_a_failed_publish_is_logged_without_the_ids_and_later_ones_go_out(caplog: pytest.LogCaptureFixture) -> None:
    task = SlowBatchTask(fail_first=True)
    publisher = BatchPublisher(task)  # type: ignore[arg-type]
    lost, later = str(uuid.uuid4()), str(uuid.uuid4())

    with caplog.at_level(logging.ERROR, logger="core.tasks"):
        publisher.put(lost)
        assert task.first_publish_started.wait(5)
        task.release_first_publish.set()
        publisher.put(later)
        assert _published(task, 1) == [later]

    assert "the sweeper will publish it" in caplog.text and lost not in caplog.text


def test_flush_publishes_what_waits_in_the_calling_thread() -> None:
    task = SlowBatchTask()
    task.first_publish_started.set()  # no waiting in this test
    publisher = BatchPublisher(task)  # type: ignore[arg-type]
    publisher._waiting.extend(["a", "b"])  # as if put() ran before the thread could take them

    publisher.flush()

    assert task.batches == [["a", "b"]]
