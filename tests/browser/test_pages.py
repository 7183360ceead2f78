"""The browser tests' own rules, without a browser: what counts as a list showing only ids, and what happens when
chromium is missing (a skip with the reason on a workstation, a failure in CI)."""

from __future__ import annotations

import pytest

from tests.browser import conftest
from tests.browser.pages import is_uuid_only

ID = "7ab01599-2dab-4219-a642-6873df7da5fc"


@pytest.mark.parametrize(
    "text",
    [ID, ID.replace("-", ""), f" {ID[:18]}\n{ID[18:]} ", f"endpoint {ID}", f"Contact object ({ID})", ID.upper()],
)
def test_an_id_alone_or_wrapped_or_named_only_by_its_kind_is_uuid_only(text: str) -> None:
    assert is_uuid_only(text)


@pytest.mark.parametrize(
    "text",
    ["Tenant A", "Line 106540352242922", "owner@tenant-a.example", f"Alice ({ID[:8]})", f"{ID} Alice", "", "—"],
)
def test_a_name_is_not_uuid_only(text: str) -> None:
    assert not is_uuid_only(text)


@pytest.fixture
def no_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "BROWSER_CANDIDATES", ("/nonexistent/chromium",))


def test_a_missing_browser_fails_the_run_in_ci(no_browser: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="CI runs the browser tests: chromium and chromedriver"):
        conftest.browser_paths()


def test_a_missing_browser_skips_with_the_reason_elsewhere(no_browser: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        conftest.browser_paths()
