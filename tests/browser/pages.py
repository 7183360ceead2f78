"""What the browser tests do on a page: sign in through the real login and code pages, open an admin page and check
that it is one (no error page, no traceback, the admin's title), read a list's first column."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from django.contrib import admin
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from accounts.models import TotpDevice
from tests.browser.conftest import RequestProblems
from tests.conftest import PASSWORD, ROOT, totp_code

SCREENSHOTS = ROOT / "var" / "screenshots"
ADMIN_INDEX = "/admin/"
WAIT_SECONDS = 15
# Text of Django's error pages and debug page: none may appear on a page the admin serves.
ERROR_MARKERS = (
    "Traceback",
    "Exception Value",
    "Server Error (500)",
    "Bad Request (400)",
    "403 Forbidden",
    "Page not found",
    "The requested resource was not found on this server",
)
UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
# A bare id, a word and an id (``endpoint <id>``), or Django's default ``Model object (id)``: no name in any of them.
UUID_ONLY = re.compile(rf"(?:\w+object\(|[A-Za-z]+)?{UUID}\)?")  # matched with the spaces taken out
# The result table and its first row's first data cell (the selection checkbox is not a column of data); the theme
# may change, so the table is found by its id, else it is the page's first table.
FIRST_CELL_SCRIPT = """
const table = document.getElementById("result_list") || document.querySelector("table");
const row = table && table.querySelector("tbody tr");
if (!row) { return null; }
const cells = Array.from(row.querySelectorAll("th, td"));
const cell = cells.find((each) => !each.classList.contains("action-checkbox")
    && !each.querySelector("input[type=checkbox]"));
return cell ? cell.innerText : null;
"""


def submit(driver: Chrome, button: str = "form button[type=submit], form input[type=submit]") -> None:
    """Press the (first) form's submit button, or the one ``button`` selects, and wait for the next page."""
    click_and_wait(driver, button)


def click_and_wait(driver: Chrome, selector: str) -> None:
    """Click what ``selector`` (CSS) finds, a button or a link, and wait until the next page replaced this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, selector).click()
    WebDriverWait(driver, WAIT_SECONDS).until(lambda _: page_replaced(page))


def page_replaced(page: WebElement) -> bool:
    """Whether ``page`` (the old document's root) is gone. Asked mid-navigation, chromedriver may answer that the
    node no longer belongs to the document instead of calling it stale: the same fact."""
    try:
        page.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in (error.msg or ""):
            return True
        raise
    return False


def reload(driver: Chrome) -> None:
    """The browser's reload: the last request again (a GET after a redirect), and wait for it."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.refresh()
    WebDriverWait(driver, WAIT_SECONDS).until(lambda _: page_replaced(page))


def body_text(driver: Chrome) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def path_of(driver: Chrome) -> str:
    return urlsplit(driver.current_url).path


def log_in(driver: Chrome, base_url: str, *, email: str, device: TotpDevice) -> None:
    """Password on the login page, then the code the device shows now on the code page: the admin index opens."""
    driver.get(f"{base_url}/account/login/?next={ADMIN_INDEX}")
    driver.find_element(By.ID, "id_email").send_keys(email)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    submit(driver)
    assert path_of(driver) == "/account/otp/", driver.page_source[:2000]
    driver.find_element(By.ID, "id_token").send_keys(totp_code(device))
    submit(driver)
    assert path_of(driver) == ADMIN_INDEX, driver.page_source[:2000]


def admin_page_open(driver: Chrome, base_url: str, path: str, problems: RequestProblems) -> None:
    """Open ``path`` and check it is an admin page that worked (``admin_page_check``), not a redirect elsewhere."""
    driver.get(f"{base_url}{path}")
    assert path_of(driver) == urlsplit(path).path, f"{path} led to {driver.current_url}"
    admin_page_check(driver, problems)


def admin_page_check(driver: Chrome, problems: RequestProblems) -> None:
    """The page shown is an admin page that worked: no answer of 400 or more behind it (the page or its static
    files), no error page or traceback, and the admin's title."""
    path = path_of(driver)
    answered = problems.take()
    assert answered == [], f"{path}: {answered}"
    assert str(admin.site.site_title) in driver.title, f"{path}: title {driver.title!r}"
    text = body_text(driver)
    shown = [marker for marker in ERROR_MARKERS if marker in text]
    assert shown == [], f"{path} shows {shown}"


def first_cell(driver: Chrome) -> str | None:
    """The first data cell of the result table's first row, as shown; None when the list has no row."""
    text = driver.execute_script(FIRST_CELL_SCRIPT)
    return None if text is None else str(text)


def is_uuid_only(text: str) -> bool:
    return UUID_ONLY.fullmatch(re.sub(r"\s+", "", text)) is not None


def screenshot(driver: Chrome, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    return path
