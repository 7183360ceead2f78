"""Secrets shown once, reloaded in a real browser: the POST that makes one redirects to a page that shows it, and
reloading that page (the browser repeats the GET, never the POST) shows it no more and makes nothing new."""

from __future__ import annotations

import re

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from accounts.apikeys import api_key_authenticate
from accounts.mfa import totp_device_provision, totp_secret_base32
from accounts.models import ApiKey, BackupCode, BackupCodeDevice, Role, Tenant, TotpDevice, User
from events.models import Endpoint
from tests.accounts.admin_rows import staff_create
from tests.browser.conftest import RequestProblems
from tests.browser.pages import admin_page_check, body_text, click_and_wait, log_in, path_of, reload, submit
from tests.conftest import PASSWORD, totp_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

KEY_PATTERN = re.compile(r"gw_[a-z]+_\w{20,}")
SECRET_PATTERN = re.compile(r"whsec_[A-Za-z0-9+/=]{40,}")
CODE_PATTERN = re.compile(r"\b[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}\b")
ISSUE_PAGE = "/admin/accounts/apikey/add/"
ISSUED_PAGE = "/admin/accounts/apikey/issued/"
ENDPOINT_ADD_PAGE = "/admin/events/endpoint/add/"
ENDPOINT_SECRET_PAGE = "/admin/events/endpoint/secret/"
ENROL_PAGE = "/account/enrol/"
BACKUP_CODES_PAGE = "/account/enrol/backup-codes/"


@pytest.fixture
def member(tenant_a: Tenant) -> User:
    """An admin of tenant A: may issue the tenant's API keys."""
    return staff_create(tenant_a, Role.ADMIN)


def test_reloading_the_issued_api_key_page_shows_no_key_and_issues_none(
    live_server: LiveServer, browser: Chrome, request_problems: RequestProblems, member: User, tenant_a: Tenant
) -> None:
    log_in(browser, live_server.url, email=member.email, device=totp_device_provision(user=member))
    browser.get(f"{live_server.url}{ISSUE_PAGE}")
    browser.find_element(By.ID, "id_name").send_keys("CRM integration")
    browser.find_element(By.CSS_SELECTOR, "input[name=scopes][value='keys:read']").click()

    submit(browser, "input[type=submit][value='Issue key']")

    assert path_of(browser) == ISSUED_PAGE
    admin_page_check(browser, request_problems)
    [plaintext] = KEY_PATTERN.findall(body_text(browser))
    assert api_key_authenticate(raw_key=plaintext, ip="127.0.0.1").tenant == tenant_a
    assert ApiKey.objects.count() == 1

    reload(browser)

    assert path_of(browser) == ISSUED_PAGE
    admin_page_check(browser, request_problems)
    assert "already shown" in body_text(browser)
    assert KEY_PATTERN.findall(browser.page_source) == []
    assert ApiKey.objects.count() == 1


def test_reloading_the_endpoint_secret_page_shows_no_secret_and_adds_nothing(
    live_server: LiveServer, browser: Chrome, request_problems: RequestProblems, member: User, tenant_a: Tenant
) -> None:
    log_in(browser, live_server.url, email=member.email, device=totp_device_provision(user=member))
    browser.get(f"{live_server.url}{ENDPOINT_ADD_PAGE}")
    Select(browser.find_element(By.ID, "id_tenant")).select_by_visible_text(tenant_a.name)
    browser.find_element(By.ID, "id_url").send_keys("http://127.0.0.1:9/crm")
    browser.find_element(By.CSS_SELECTOR, "input[name=event_types][value='message.received']").click()

    submit(browser, "input[type=submit][value='Add']")

    assert path_of(browser) == ENDPOINT_SECRET_PAGE
    admin_page_check(browser, request_problems)
    assert SECRET_PATTERN.findall(body_text(browser)) == [Endpoint.objects.get(tenant=tenant_a).secret]

    reload(browser)

    assert path_of(browser) == ENDPOINT_SECRET_PAGE
    admin_page_check(browser, request_problems)
    assert "already shown" in body_text(browser)
    assert SECRET_PATTERN.findall(browser.page_source) == []
    assert Endpoint.objects.count() == 1


def test_reloading_the_setup_key_and_the_backup_codes_shows_them_no_more(
    live_server: LiveServer, browser: Chrome, request_problems: RequestProblems, member: User
) -> None:
    browser.get(f"{live_server.url}/account/login/?next=/admin/")
    browser.find_element(By.ID, "id_email").send_keys(member.email)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    submit(browser)
    assert path_of(browser) == ENROL_PAGE
    submit(browser, "button[name=start]")
    device = TotpDevice.objects.get(user=member, confirmed=False)
    assert totp_secret_base32(device) in body_text(browser)

    reload(browser)

    assert path_of(browser) == ENROL_PAGE and "already shown" in body_text(browser)
    assert totp_secret_base32(device) not in browser.page_source
    assert TotpDevice.objects.filter(user=member).count() == 1
    browser.find_element(By.ID, "id_token").send_keys(totp_code(device))
    submit(browser)
    assert path_of(browser) == BACKUP_CODES_PAGE
    assert len(set(CODE_PATTERN.findall(body_text(browser)))) == 10

    reload(browser)

    assert path_of(browser) == BACKUP_CODES_PAGE and "already shown" in body_text(browser)
    assert CODE_PATTERN.findall(body_text(browser)) == []
    codes = BackupCode.objects.filter(device__user=member)
    assert (BackupCodeDevice.objects.filter(user=member).count(), codes.count()) == (1, 10)
    click_and_wait(browser, "a[href='/admin/']")
    assert path_of(browser) == "/admin/"
    admin_page_check(browser, request_problems)
