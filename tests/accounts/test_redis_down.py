"""With Redis configured but unreachable, the throttled paths answer 503, never a 500 and never un-throttled."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.mfa import SESSION_VERIFIED_AT
from accounts.middleware import RedisUnavailableMiddleware
from accounts.models import TotpDevice, User
from audit.models import AuditAction, AuditEvent
from core.api_errors import api_exception_handler
from core.redis import redis_client
from tests.conftest import PASSWORD, totp_code

pytestmark = pytest.mark.django_db

LEAKS = ("redis", "6379", "Connection", "refused", "Traceback", "Error")


@pytest.fixture
def redis_down(settings: Any) -> Iterator[None]:
    """REDIS_URL pointing at a local port that was bound and closed again: nothing listens there."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    redis_client.cache_clear()
    yield
    redis_client.cache_clear()


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "temporarily unavailable" in page
    assert not [word for word in LEAKS if word in page]


@pytest.mark.usefixtures("redis_down")
def test_a_login_with_redis_down_is_a_503_and_the_password_is_never_checked(operator: User) -> None:
    client = Client()

    response = client.post(reverse("accounts:login"), {"email": operator.email, "password": PASSWORD})

    _assert_unavailable(response)
    assert "_auth_user_id" not in client.session
    operator.refresh_from_db()
    assert operator.last_login is None
    assert not AuditEvent.objects.filter(action__in=[AuditAction.LOGIN_SUCCEEDED, AuditAction.LOGIN_FAILED]).exists()


@pytest.mark.usefixtures("redis_down")
def test_an_otp_with_redis_down_is_a_503_and_the_code_is_never_checked(
    operator: User, operator_device: TotpDevice
) -> None:
    client = Client()
    client.force_login(operator)

    response = client.post(reverse("accounts:otp"), {"token": totp_code(operator_device)})

    _assert_unavailable(response)
    assert SESSION_VERIFIED_AT not in client.session
    assert not AuditEvent.objects.filter(action__in=[AuditAction.MFA_VERIFIED, AuditAction.OTP_FAILED]).exists()


def test_the_login_page_itself_still_shows_with_redis_down(redis_down: None) -> None:
    assert Client().get(reverse("accounts:login")).status_code == 200


@pytest.mark.usefixtures("redis_down")
@pytest.mark.parametrize("path", ["/account/login/", "/api/v1/tenant/"])
def test_a_redis_error_raised_by_any_view_is_a_503_not_a_500(path: str) -> None:
    """Not only the throttles: a lock or a bucket taken straight from the client fails with redis-py's own
    error; whatever view it ends answers 503 (the API in its own shape), never a 500."""
    view_request = RequestFactory().get(path)

    def view(_: HttpRequest) -> HttpResponse:
        redis_client().ping()
        return HttpResponse("reached")

    browser = RedisUnavailableMiddleware(view)
    try:
        view(view_request)
    except Exception as error:  # the error the middleware is given, whatever its class
        answered = browser.process_exception(view_request, error)
        api = api_exception_handler(error, {})
    else:
        pytest.fail("Redis answered on a closed port")

    assert answered is not None
    _assert_unavailable(answered)
    assert api is not None
    assert api.status_code == 503
    assert api["Retry-After"] == "30"
