from __future__ import annotations

from collections.abc import Iterator

import pytest

from audit.alerts import listeners
from audit.alerts.detectors.api_keys import api_key_networks_forget
from audit.alerts.thresholds import thresholds_cache_clear
from tests.security.support import DetectionClock, detection_clock


@pytest.fixture(autouse=True)
def _fresh_thresholds() -> Iterator[None]:
    thresholds_cache_clear()
    yield
    thresholds_cache_clear()


@pytest.fixture
def no_listeners(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the listeners the test registers itself (the apps' email and event listeners are set aside)."""
    monkeypatch.setattr(listeners, "_writers", [])
    monkeypatch.setattr(listeners, "_notifiers", [])


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> DetectionClock:
    return detection_clock(monkeypatch)


@pytest.fixture(autouse=True)
def _fresh_key_networks() -> Iterator[None]:
    api_key_networks_forget()
    yield
    api_key_networks_forget()
