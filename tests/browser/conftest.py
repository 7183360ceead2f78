"""A real browser (Debian's chromium, driven by its chromedriver through Selenium) against the app served by
pytest-django's live server. CI installs both (.ci/run) and must run these tests: with ``CI`` set, a missing
browser fails the run; elsewhere the tests are skipped, saying what to install."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

BROWSER_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "chromedriver")
# Flags that run chromium headless in a container, offline, with nothing carried over between runs.
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
MISSING_BROWSER = "chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)"
# Requests the browser makes on its own, not links of the app.
IGNORED_PATHS = frozenset({"/favicon.ico"})


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _found(candidates: tuple[str, ...]) -> str | None:
    return next((path for name in candidates if (path := shutil.which(name))), None)


def browser_paths() -> tuple[str, str]:
    """Chromium and its driver; without them the test fails in CI and is skipped elsewhere, saying why."""
    binary, driver_path = _found(BROWSER_CANDIDATES), _found(DRIVER_CANDIDATES)
    if binary is None or driver_path is None:
        if is_ci():
            pytest.fail(f"CI runs the browser tests: {MISSING_BROWSER}")
        pytest.skip(MISSING_BROWSER)
    return binary, driver_path


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """A fresh headless chromium (its own profile, no cookies). The driver is given by path, so Selenium Manager
    never looks for (or downloads) one."""
    binary, driver_path = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="gateway-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()


class RequestProblems(logging.Handler):
    """What Django logs about each answer of 400 or more (``django.request``): a 404, a 403 or a server error
    behind a page, a missing static file under it."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        request = getattr(record, "request", None)
        path = getattr(request, "path", "")
        if path not in IGNORED_PATHS:
            self.problems.append(f"{getattr(record, 'status_code', '?')} {path}: {record.getMessage()}")

    def take(self) -> list[str]:
        taken, self.problems = self.problems, []
        return taken


@pytest.fixture
def request_problems() -> Iterator[RequestProblems]:
    handler = RequestProblems()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
