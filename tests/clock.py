"""A wall clock for tests that only the test moves: logical time instead of sleeping or tolerances."""

from __future__ import annotations

from datetime import datetime


class StoppedClock:
    """Stands in for a module's ``time`` and ``timezone`` (``monkeypatch.setattr(module, "timezone", clock)``): the
    wall clock stopped at ``at``, moved only by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def time(self) -> float:
        return self.at.timestamp()

    def now(self) -> datetime:
        return self.at
