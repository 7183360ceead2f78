from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import TotpDevice, User
from tests.conftest import verify_session

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.stepup_urls")]


def _client(user: User, device: TotpDevice, *, verified_seconds_ago: float | None) -> Client:
    client = Client()
    client.force_login(user)
    if verified_seconds_ago is not None:
        verify_session(client, device, verified_seconds_ago=verified_seconds_ago)
    return client


@pytest.mark.parametrize(("seconds_ago", "allowed"), [(120, True), (660, False), (None, False)])
def test_page_needs_an_otp_within_ten_minutes(
    operator: User, operator_device: TotpDevice, seconds_ago: float | None, allowed: bool
) -> None:
    response = _client(operator, operator_device, verified_seconds_ago=seconds_ago).get("/sensitive/")

    if allowed:
        assert response.content == b"done"
    else:
        assert response.status_code == 302
        assert response["Location"] == "/account/step-up/?next=%2Fsensitive%2F"


@pytest.mark.parametrize(("seconds_ago", "status"), [(120, 200), (660, 403)])
def test_api_permission_answers_step_up_required(
    operator: User, operator_device: TotpDevice, seconds_ago: float, status: int
) -> None:
    client = _client(operator, operator_device, verified_seconds_ago=seconds_ago)

    response = client.post("/sensitive-api/", content_type="application/json")

    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "step_up_required"


def test_step_up_window_follows_the_setting(operator: User, operator_device: TotpDevice, settings) -> None:
    settings.STEP_UP_SECONDS = 60

    response = _client(operator, operator_device, verified_seconds_ago=120).get("/sensitive/")

    assert response.status_code == 302
