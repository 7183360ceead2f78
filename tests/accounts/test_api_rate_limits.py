"""The API's rate limits: per key and per tenant, 429 in the problem shape with Retry-After and the IETF RateLimit
headers, per-key overrides, windows on a logical clock, and what happens with Redis out of reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.apikeys import ApiKeyError, IssuedKey, api_key_issue
from accounts.models import ApiKey, ApiScope, Tenant
from accounts.rate_limits import rate_limit_settings_check
from core import quota
from tests.accounts.test_redis_down import redis_down
from tests.clock import StoppedClock

__all__ = ["redis_down"]

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)  # a window boundary
URL = "/api/v1/tenant/"  # a read any key may make
ISSUE_PAGE = "/admin/accounts/apikey/add/"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> StoppedClock:
    stopped = StoppedClock(T0 + timedelta(seconds=15))
    monkeypatch.setattr(quota, "timezone", stopped)
    return stopped


@pytest.fixture(autouse=True)
def small_limits(settings: Any) -> None:
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "reads": "3/60", "sends": "2/60"}
    settings.API_TENANT_RATE_LIMITS = {**settings.API_TENANT_RATE_LIMITS, "reads": "5/60", "sends": "4/60"}


def _client(issued: IssuedKey) -> APIClient:
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def _key(tenant: Tenant, *scopes: str, **fields: Any) -> APIClient:
    return _client(api_key_issue(tenant=tenant, name="limits test", scopes=scopes or [ApiScope.KEYS_READ], **fields))


def _statuses(client: APIClient, count: int) -> list[int]:
    return [client.get(URL).status_code for _ in range(count)]


@pytest.mark.usefixtures("clock")
def test_a_key_past_its_limit_is_answered_429_in_the_problem_shape_with_the_headers(tenant_a: Tenant) -> None:
    client = _key(tenant_a)
    answers = [client.get(URL) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[0]["RateLimit-Policy"] == '"reads";q=3;w=60, "reads-tenant";q=5;w=60'
    assert answers[0]["RateLimit"] == '"reads";r=2;t=45, "reads-tenant";r=4;t=45'
    refused = answers[3]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["status"] == 429 and refused.json()["code"] == "throttled"
    assert refused["Retry-After"] == "45"
    assert refused["RateLimit"] == '"reads";r=0;t=45, "reads-tenant";r=2;t=45'
    assert refused["RateLimit-Policy"] == answers[0]["RateLimit-Policy"]


def test_the_tenant_limit_holds_across_its_keys_and_not_for_another_tenant(
    clock: StoppedClock, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    first, second = _key(tenant_a), _key(tenant_a)

    assert _statuses(first, 3) == [200, 200, 200]
    assert _statuses(second, 3) == [200, 200, 429]  # the tenant's 5, shared
    assert second.get(URL)["RateLimit"] == '"reads";r=1;t=45, "reads-tenant";r=0;t=45'
    assert _statuses(_key(tenant_b), 3) == [200, 200, 200]

    clock.at = T0 + timedelta(seconds=60)  # the next window
    assert _statuses(second, 1) == [200]


@pytest.mark.usefixtures("clock")
def test_a_keys_own_rate_is_honoured_and_shown(tenant_a: Tenant) -> None:
    roomy = _key(tenant_a, rate_limits={"reads": "4/60"})
    tight = _key(tenant_a, rate_limits={"reads": "1/30"})

    assert _statuses(tight, 2) == [200, 429]
    assert tight.get(URL)["RateLimit-Policy"].startswith('"reads";q=1;w=30, ')
    assert _statuses(roomy, 5) == [200, 200, 200, 200, 429]  # 1 + 4 = the tenant's 5 as well
    assert ApiKey.objects.filter(rate_limits={"reads": "1/30"}).count() == 1


def test_own_rates_are_validated_when_a_key_is_issued(tenant_a: Tenant) -> None:
    with pytest.raises(ApiKeyError, match="unknown rate-limit class"):
        api_key_issue(tenant=tenant_a, name="x", scopes=[ApiScope.KEYS_READ], rate_limits={"uploads": "1/1"})
    issued = api_key_issue(tenant=tenant_a, name="x", scopes=[ApiScope.KEYS_READ], rate_limits={"exports": " 5/3600"})
    assert issued.api_key.rate_limits == {"exports": "5/3600"}


def test_the_issue_command_sets_own_rates(tenant_a: Tenant) -> None:
    out = StringIO()
    arguments = ["--tenant", tenant_a.slug, "--name", "crm", "--scope", "keys:read", "--rate-limit", "exports=2/3600"]
    call_command("apikey_issue", *arguments, "--rate-limit", "sends=100/60", stdout=out)

    assert ApiKey.objects.get(name="crm").rate_limits == {"sends": "100/60", "exports": "2/3600"}
    assert "own rate limits sends=100/60 exports=2/3600" in out.getvalue()


def test_the_admin_issues_a_key_with_own_rates_and_shows_them(operator_client: Client, tenant_a: Tenant) -> None:
    form = {"tenant": tenant_a.pk, "name": "CRM", "scopes": ["keys:read"], "days": 30}

    refused = operator_client.post(ISSUE_PAGE, {**form, "rate_limits": "exports=5/3600, uploads=1/60"})
    issued = operator_client.post(ISSUE_PAGE, {**form, "rate_limits": "exports=5/3600,\nsends = 100/60"})

    assert refused.status_code == 200 and "unknown rate-limit class(es): uploads" in refused.content.decode()
    assert issued.status_code == 303
    api_key = ApiKey.objects.get(name="CRM")
    assert api_key.rate_limits == {"sends": "100/60", "exports": "5/3600"}
    page = operator_client.get(f"/admin/accounts/apikey/{api_key.pk}/change/").content.decode()
    assert "sends 100/60 (own), exports 5/3600 (own), erasures 30/3600, reads 3/60, writes 300/60" in page


def test_bad_default_rates_fail_the_settings_check(settings: Any) -> None:
    assert rate_limit_settings_check() == []
    settings.API_TENANT_RATE_LIMITS = {**settings.API_TENANT_RATE_LIMITS, "sends": "lots"}

    errors = rate_limit_settings_check()

    assert [error.id for error in errors] == ["accounts.E101"]
    assert "API_TENANT_RATE_LIMITS['sends']" in errors[0].msg


def test_requests_without_a_key_are_not_counted(tenant_a: Tenant) -> None:
    anonymous = APIClient()
    answers = [anonymous.get(URL) for _ in range(5)]

    assert {answer.status_code for answer in answers} == {401}
    assert not answers[0].has_header("RateLimit")


# --- Redis out of reach ------------------------------------------------------------------------------------


def _sender(tenant: Tenant) -> APIClient:
    """Issued before Redis goes away (issuing does not need it)."""
    return _key(tenant, ApiScope.MESSAGES_SEND, ApiScope.KEYS_READ)


@pytest.mark.usefixtures("redis_down")
def test_with_redis_down_sends_and_reads_are_refused_503(tenant_a: Tenant) -> None:
    client = _sender(tenant_a)

    send = client.post("/api/v1/messages/", {}, format="json")
    read = client.get(URL)

    assert (send.status_code, send["Retry-After"], send.json()["code"]) == (503, "30", "service_unavailable")
    assert (read.status_code, read.json()["code"]) == (503, "service_unavailable")
    assert not read.has_header("RateLimit")
