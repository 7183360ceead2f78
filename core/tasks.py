"""Task helpers: publish only after commit, carry ids only, and never let periodic runs overlap."""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task, current_app, shared_task
from django.db import transaction
from django.utils import timezone

from core.locks import held_lock
from core.task_names import THROTTLE_PRUNE_TASK
from core.throttle import throttle_prune

logger = logging.getLogger(__name__)

SAFE_ARGUMENT_TYPES = (int, uuid.UUID, bool, type(None))

Counts = dict[str, int]
CountsFunction = TypeVar("CountsFunction", bound=Callable[..., Counts])


class UnsafeTaskArgumentError(TypeError):
    """Task arguments must be ids and flags: bodies, tokens and secrets never go to the broker."""


def registered_task(name: str) -> Task[Any, Any]:
    """A task by its name, for a module that publishes a task whose module imports it: the app's ``ready``
    imports the task module in every process, so the name is registered before anything publishes."""
    return current_app.tasks[name]


def enqueue_on_commit(task: Task[Any, Any], *args: object, **kwargs: object) -> None:
    """Publish ``task`` once the current transaction commits (at once outside a transaction)."""
    for value in (*args, *kwargs.values()):
        _require_safe_argument(value)
    arguments = tuple(str(value) if isinstance(value, uuid.UUID) else value for value in args)
    keywords = {key: str(value) if isinstance(value, uuid.UUID) else value for key, value in kwargs.items()}
    transaction.on_commit(functools.partial(task.apply_async, args=arguments, kwargs=keywords))


def enqueue_batched_on_commit(task: Task[Any, Any], item_id: uuid.UUID) -> None:
    """Hand ``item_id`` to this process's publisher for ``task`` once the transaction commits.

    ``task`` takes one argument, a list of ids. A background thread publishes whatever ids are waiting as one
    task (up to ``BATCH_MAX``), so a request never waits on the broker and a busy process pays one publish
    per batch instead of one per id. A process that dies holding ids loses only their publish: the rows are
    already committed, and the caller must have a sweeper that publishes rows left unprocessed.
    """
    _require_safe_argument(item_id)
    transaction.on_commit(functools.partial(_publisher_for(task).put, str(item_id)))


BATCH_MAX = 20
# After the first id of a batch the publisher waits for more, up to BATCH_LINGER_SECONDS, and stops waiting as soon as
# BATCH_GAP_SECONDS pass without a new one: under load a batch fills up (a publish costs far more than an id), and a
# lone id waits only the gap before its processing starts.
BATCH_LINGER_SECONDS = 0.05
BATCH_GAP_SECONDS = 0.01


class BatchPublisher:
    """One daemon thread per process and task, draining a list of waiting ids into batched publishes.

    ``put`` appends under a lock and wakes the thread only for a batch's first id and when a batch is full; the
    thread looks again once per gap. Waking it for every id cost each webhook request a switch to the thread and
    back; without that, a web process under closed-loop load acked 3 to 7 % more webhooks per second."""

    def __init__(self, task: Task[Any, Any]) -> None:
        self.task = task
        self._pid = 0
        self._waiting: list[str] = []
        self._arrived = threading.Condition(threading.Lock())
        self._start_lock = threading.Lock()

    def put(self, item_id: str) -> None:
        if self._pid != os.getpid():
            self._start()
        with self._arrived:
            self._waiting.append(item_id)
            if len(self._waiting) in {1, BATCH_MAX}:
                self._arrived.notify()

    def flush(self) -> None:
        """Publish what is waiting now, in this thread (process exit; tests)."""
        while batch := self._take(block=False):
            self._publish(batch)

    def _start(self) -> None:
        with self._start_lock:
            if self._pid == os.getpid():
                return
            # A forked child must not share its parent's waiting ids, nor a lock the parent's thread may have held.
            self._waiting = []
            self._arrived = threading.Condition(threading.Lock())
            self._pid = os.getpid()
            threading.Thread(target=self._run, name=f"publish {self.task.name}", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._publish(self._take(block=True))

    def _take(self, *, block: bool) -> list[str]:
        """Up to BATCH_MAX ids: waiting for the first (``block``), then for more as BATCH_LINGER_SECONDS and
        BATCH_GAP_SECONDS allow (not at all unless ``block``)."""
        with self._arrived:
            if block:
                self._arrived.wait_for(lambda: self._waiting)
                self._linger()
            batch = self._waiting[:BATCH_MAX]
            del self._waiting[:BATCH_MAX]
        return batch

    def _linger(self) -> None:
        """Wait a gap at a time while ids keep coming, until the batch is full or the linger is over (lock held)."""
        deadline = time.monotonic() + BATCH_LINGER_SECONDS
        seen = 0
        while seen < len(self._waiting) < BATCH_MAX:
            seen = len(self._waiting)
            remaining = min(deadline - time.monotonic(), BATCH_GAP_SECONDS)
            if remaining <= 0:
                return
            self._arrived.wait(remaining)  # woken early only by a full batch

    def _publish(self, batch: list[str]) -> None:
        try:
            self.task.apply_async(args=(batch,))
        except Exception:  # the broker is down: the rows wait for the sweeper
            logger.exception("publishing a batch failed; the sweeper will publish it", extra={"ids": len(batch)})


_publishers: dict[str, BatchPublisher] = {}
_publishers_lock = threading.Lock()


def _publisher_for(task: Task[Any, Any]) -> BatchPublisher:
    publisher = _publishers.get(task.name)
    if publisher is None:
        with _publishers_lock:
            publisher = _publishers.setdefault(task.name, BatchPublisher(task))
    return publisher


def batch_publishers_flush() -> None:
    for publisher in list(_publishers.values()):
        publisher.flush()


atexit.register(batch_publishers_flush)


def enqueue_by_name_on_commit(
    task_name: str,
    *args: object,
    countdown: float = 0.0,
    on_published: Callable[[], None] | None = None,
) -> None:
    """Publish the task registered as ``task_name`` once the transaction commits, without importing its module,
    to run no sooner than ``countdown`` seconds after. An argument is an id, a flag or a list of ids (a batch).

    Only for tasks backed by an outbox row: the transaction has committed by the time this runs, so a broker
    that cannot be reached is logged, not raised (the request did succeed), and the outbox relay publishes the
    row later. ``on_published`` runs after a successful publish only (e.g. to stamp the outbox row).
    """
    arguments = [_wire_argument(value) for value in args]

    def publish() -> None:
        try:
            current_app.send_task(task_name, args=arguments, countdown=countdown or None)
        except Exception:  # the broker is down or refused: the relay takes over
            logger.warning("publish failed, left to the outbox relay", extra={"task": task_name}, exc_info=True)
            return
        if on_published is not None:
            on_published()

    transaction.on_commit(publish)


def _wire_argument(value: object) -> object:
    """The value as it goes to the broker: a UUID as text, a list of ids as a list of texts."""
    if isinstance(value, list | tuple):
        return [_wire_argument(item) for item in value]
    _require_safe_argument(value)
    return str(value) if isinstance(value, uuid.UUID) else value


def _require_safe_argument(value: object) -> None:
    if isinstance(value, SAFE_ARGUMENT_TYPES):
        return
    if isinstance(value, str) and _is_uuid(value):
        return
    raise UnsafeTaskArgumentError(f"task arguments must be ids (int or UUID) or flags, got {type(value).__name__}")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def lock_guarded(lock_name: str, *, ttl_seconds: int = 600) -> Callable[[CountsFunction], CountsFunction]:
    """Wrap a periodic job so two runs never overlap; a skipped run returns {"skipped": 1}."""

    def decorate(function: CountsFunction) -> CountsFunction:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Counts:
            with held_lock(f"periodic:{lock_name}", ttl_seconds=ttl_seconds) as acquired:
                if not acquired:
                    logger.info("periodic job skipped, already running", extra={"job": lock_name})
                    return {"skipped": 1}
                counts = function(*args, **kwargs)
            level = logging.INFO if any(counts.values()) else logging.DEBUG  # quiet when there was nothing to do
            logger.log(level, "periodic job finished", extra={"job": lock_name, **counts})
            return counts

        return run  # type: ignore[return-value]

    return decorate


@shared_task(name=THROTTLE_PRUNE_TASK)
@lock_guarded("throttle-prune")
def throttle_prune_task() -> Counts:
    return {"deleted": throttle_prune(now=timezone.now())}
