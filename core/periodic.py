"""Beat's schedule, gathered from the apps: each declares its periodic tasks as a ``PERIODIC`` tuple beside
the names its task module uses, so a task's name is written once. Django-free, like those declarations,
because the settings import them before any app is loaded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain


@dataclass(frozen=True, slots=True)
class Periodic:
    """The task named ``task``, published by beat every ``every`` seconds under the schedule entry ``entry``."""

    entry: str
    task: str
    every: float


def beat_schedule(*declared: Iterable[Periodic]) -> dict[str, dict[str, object]]:
    """Celery's ``beat_schedule`` from the apps' ``PERIODIC`` tuples, in order; an entry declared twice raises
    ``ValueError`` (the second would silently replace the first)."""
    schedule: dict[str, dict[str, object]] = {}
    for periodic in chain.from_iterable(declared):
        if periodic.entry in schedule:
            raise ValueError(f"beat entry {periodic.entry!r} is declared twice")
        schedule[periodic.entry] = {"task": periodic.task, "schedule": periodic.every}
    return schedule
