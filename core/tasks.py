"""Task helpers: publish only after commit, carry ids only, and never let periodic runs overlap."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task, shared_task
from django.db import transaction
from django.utils import timezone

from core.locks import held_lock
from core.throttle import throttle_prune

logger = logging.getLogger(__name__)

SAFE_ARGUMENT_TYPES = (int, uuid.UUID, bool, type(None))

Counts = dict[str, int]
CountsFunction = TypeVar("CountsFunction", bound=Callable[..., Counts])


class UnsafeTaskArgumentError(TypeError):
    """Task arguments must be ids and flags: bodies, tokens and secrets never go to the broker."""


def enqueue_on_commit(task: Task[Any, Any], *args: object, **kwargs: object) -> None:
    """Publish ``task`` once the current transaction commits (at once outside a transaction)."""
    for value in (*args, *kwargs.values()):
        _require_safe_argument(value)
    arguments = tuple(str(value) if isinstance(value, uuid.UUID) else value for value in args)
    keywords = {key: str(value) if isinstance(value, uuid.UUID) else value for key, value in kwargs.items()}
    transaction.on_commit(functools.partial(task.apply_async, args=arguments, kwargs=keywords))


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
            logger.info("periodic job finished", extra={"job": lock_name, **counts})
            return counts

        return run  # type: ignore[return-value]

    return decorate


@shared_task(name="maintenance.throttle_prune")
@lock_guarded("throttle-prune")
def throttle_prune_task() -> Counts:
    return {"deleted": throttle_prune(now=timezone.now())}
