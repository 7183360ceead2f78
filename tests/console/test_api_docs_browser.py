"""The API docs in a real browser: Swagger UI and Redoc render the gateway's operations from a real gunicorn with
every host but 127.0.0.1 unresolvable, so a page that needed a CDN would stay empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.live_gunicorn import LiveGunicorn, live_gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BROWSER_SETTINGS = "tests.console.browser_settings"  # the static files from the apps' folders, no collectstatic


@pytest.fixture
def served(tmp_path: Path) -> Iterator[LiveGunicorn]:
    with live_gunicorn(tmp_path / "gunicorn.log", env={"DJANGO_SETTINGS_MODULE": BROWSER_SETTINGS}) as server:
        yield server


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Chromium and its driver (/usr/bin/chromium, /usr/bin/chromedriver)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")  # no CDN can answer
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.mark.parametrize(
    ("path", "selector"),
    [("/api/docs/", "#operations-tag-messages"), ("/api/docs/redoc/", "[data-section-id='tag/messages']")],
)
def test_the_api_docs_render_the_operations_with_no_network_beyond_the_gateway(
    served: LiveGunicorn, browser: webdriver.Chrome, path: str, selector: str
) -> None:
    browser.get(f"http://127.0.0.1:{served.port}{path}")

    WebDriverWait(browser, 30).until(lambda driver: driver.find_elements(By.CSS_SELECTOR, selector))
    assert "Meta gateway API" in browser.page_source
