from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.tasks import security_alert_email_task
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


@pytest.fixture(autouse=True)
def published_emails(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The alert emails published to the broker (their arguments), each run here as the worker would run it."""
    published: list[tuple[str, ...]] = []

    def run_now(args: list[str], **options: object) -> None:
        published.append(tuple(args))
        security_alert_email_task.apply(args=tuple(args), throw=True)

    monkeypatch.setattr(security_alert_email_task, "apply_async", run_now)
    return published
