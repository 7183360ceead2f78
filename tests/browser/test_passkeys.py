"""A passkey in a real browser: Chrome's virtual authenticator (a platform authenticator that verifies its user)
stands in for a phone or a laptop's fingerprint reader. Sign in with a code, add a passkey on the security page,
sign out, then sign in with the password and the passkey: the admin dashboard opens.

WebAuthn needs a domain as RP ID (never an IP address), so the live server is reached as ``localhost``, and the
relying party is configured for exactly that origin, as an operator would configure theirs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django_otp_webauthn.models import WebAuthnCredential
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.support.wait import WebDriverWait

from accounts.mfa import totp_device_provision
from accounts.models import User
from audit.models import AuditAction, AuditEvent
from tests.browser.conftest import RequestProblems
from tests.browser.pages import (
    ADMIN_INDEX,
    WAIT_SECONDS,
    admin_page_check,
    body_text,
    click_and_wait,
    log_in,
    path_of,
    screenshot,
    submit,
)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SECURITY_PAGE = "/account/security/"


@pytest.fixture
def passkey_browser(browser: Chrome, live_server: LiveServer, settings: Any) -> Iterator[Chrome]:
    """The browser with a virtual authenticator, and the relying party set to the live server's origin."""
    assert live_server.url.startswith("http://localhost:"), live_server.url
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    browser.add_virtual_authenticator(
        VirtualAuthenticatorOptions(
            protocol="ctap2",
            transport="internal",
            has_resident_key=True,
            has_user_verification=True,
            is_user_verified=True,
        )
    )
    yield browser
    browser.remove_virtual_authenticator()


def _wait_for_path(driver: Chrome, path: str) -> None:
    WebDriverWait(driver, WAIT_SECONDS).until(lambda each: path_of(each) == path)


def test_sign_in_with_the_password_and_a_passkey_reaches_the_dashboard(
    live_server: LiveServer, passkey_browser: Chrome, request_problems: RequestProblems, operator: User
) -> None:
    browser = passkey_browser
    log_in(browser, live_server.url, email=operator.email, device=totp_device_provision(user=operator))
    assert browser.find_elements(By.CSS_SELECTOR, f"a[href='{SECURITY_PAGE}']"), "the account menu links the page"
    browser.get(f"{live_server.url}{SECURITY_PAGE}")
    assert "No passkey yet." in body_text(browser)

    click_and_wait(browser, "#passkey-register-button")  # the page shows itself again once the passkey is saved

    WebDriverWait(browser, WAIT_SECONDS).until(lambda each: "Passkey 1" in each.page_source)
    assert WebAuthnCredential.objects.filter(user=operator).count() == 1
    screenshot(browser, "passkey-registered")
    submit(browser, "#sign-out")
    assert path_of(browser) == "/account/login/"

    browser.get(f"{live_server.url}/account/login/?next={ADMIN_INDEX}")
    browser.find_element(By.ID, "id_email").send_keys(operator.email)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    submit(browser)
    assert path_of(browser) == "/account/otp/"
    browser.find_element(By.ID, "passkey-verification-button").click()

    _wait_for_path(browser, ADMIN_INDEX)
    admin_page_check(browser, request_problems)
    screenshot(browser, "passkey-signed-in")
    verified = AuditEvent.objects.filter(action=AuditAction.MFA_VERIFIED, actor_id=operator.pk)
    assert [event.details.get("device") for event in verified] == [None, "passkey"]
