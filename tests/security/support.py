"""Helpers for replaying attacks: a stopped clock for the detectors' windows, and the alerts they raised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit.alerts import counters, history
from audit.alerts.models import SecurityAlert
from tests.clock import StoppedClock

START = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


class DetectionClock(StoppedClock):
    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def detection_clock(monkeypatch: pytest.MonkeyPatch) -> DetectionClock:
    """The detectors' windows and hourly counts on a clock the test moves (alerts keep real timestamps)."""
    clock = DetectionClock(START)
    monkeypatch.setattr(counters, "timezone", clock)
    monkeypatch.setattr(history, "timezone", clock)
    return clock


def alerts_of(detector: str) -> list[SecurityAlert]:
    return list(SecurityAlert.objects.filter(detector=detector).order_by("first_seen"))


def detection_settings(settings: pytest.FixtureRequest, **values: int) -> None:
    """Thresholds for one test, on top of the installation's defaults."""
    settings.SECURITY_DETECTION = {**settings.SECURITY_DETECTION, **values}  # type: ignore[attr-defined]
