"""Every error of an /api/ path is a problem document, including those Django answers around DRF; other paths
keep their own answers."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from core.api_edge import API_MAX_URI_BYTES
from core.redis import RedisUnavailableError
from messaging.models import Message
from tests.problems import PROBLEM_CONTENT_TYPE, problem


def _crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret internals: postgres://user:password@db/gateway")


def _redis_down(request: HttpRequest) -> HttpResponse:
    raise RedisUnavailableError


def _json_refusal(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"detail": "A refusal of a view's own.", "code": "own_code"}, status=409)


# This module is also the URLconf of some tests: the project's, plus API views that fail and refuse.
urlpatterns = [
    path("api/v1/crash/", _crash),
    path("api/v1/json-refusal/", _json_refusal),
    path("api/v1/redis-down/", _redis_down),
    path("", include("gateway.urls")),
]


@pytest.fixture
def client_a(tenant_a: Tenant) -> APIClient:
    issued = api_key_issue(tenant=tenant_a, name="all", scopes=list(ApiScope.values))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def _problem_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("url", ["/api/v1/nothing/", "/api/", "/api/v2/messages/", "/api/v1/messages/not-a-uuid/"])
def test_an_unknown_api_path_is_a_404_problem(db: None, url: str):
    response = Client().get(url)

    assert response.status_code == 404
    assert _problem_of(response) == problem(404, "not_found", "No API operation at this path.")


def test_paths_outside_the_api_keep_their_own_404(db: None):
    for url in ("/nothing/", "/webhooks/nothing/"):
        response = Client().get(url)
        assert response.status_code == 404
        assert response["Content-Type"] != PROBLEM_CONTENT_TYPE


def test_a_method_an_operation_does_not_take_is_a_405_problem(client_a: APIClient):
    response = client_a.delete("/api/v1/tenant/")

    assert response.status_code == 405
    assert _problem_of(response) == problem(405, "method_not_allowed", 'Method "DELETE" not allowed.')


def test_a_body_past_the_limit_is_a_413_problem_and_sends_nothing(client_a: APIClient, settings: Settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"channel": "' + "x" * 1024 + '"}'

    response = client_a.post("/api/v1/messages/", body, content_type="application/json")

    assert response.status_code == 413
    expected = problem(413, "request_too_large", "The request body is larger than the API accepts.")
    assert _problem_of(response) == expected
    assert not Message.objects.exists()


def test_a_uri_past_the_limit_is_a_414_problem(client_a: APIClient):
    at_limit = "/api/v1/messages/?type=" + "t" * (API_MAX_URI_BYTES - len("/api/v1/messages/?type="))

    within = client_a.get(at_limit)
    past = client_a.get(at_limit + "t")

    assert within.status_code == 400  # reached the view: type is at most 32 characters
    assert past.status_code == 414
    expected = problem(414, "uri_too_long", f"The path and query are longer than {API_MAX_URI_BYTES} bytes.")
    assert _problem_of(past) == expected


def test_a_crash_in_an_api_view_is_a_500_problem_that_tells_nothing_of_it(db: None, settings: Settings):
    settings.ROOT_URLCONF = __name__

    response = Client(raise_request_exception=False).get("/api/v1/crash/")

    assert response.status_code == 500
    expected = problem(500, "server_error", "The server could not complete the request; it has been logged.")
    assert _problem_of(response) == expected
    assert b"secret" not in response.content and b"password" not in response.content


def test_redis_out_of_reach_outside_drf_is_a_503_problem_with_retry_after(db: None, settings: Settings):
    settings.ROOT_URLCONF = __name__

    response = Client().get("/api/v1/redis-down/")

    assert (response.status_code, response["Retry-After"]) == (503, "30")
    expected = problem(503, "service_unavailable", "The service is temporarily unavailable. Try again shortly.")
    assert _problem_of(response) == expected


def test_a_json_error_body_is_never_replaced(db: None, settings: Settings):
    settings.ROOT_URLCONF = __name__

    response = Client().get("/api/v1/json-refusal/")

    assert (response.status_code, response["Content-Type"]) == (409, "application/json")
    assert response.json() == {"detail": "A refusal of a view's own.", "code": "own_code"}


def test_a_body_that_is_not_json_is_a_400_problem(client_a: APIClient):
    response = client_a.post("/api/v1/messages/", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert _problem_of(response) == problem(
        400,
        "invalid_request",
        "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        errors=[],
    )


def test_a_body_of_another_type_is_a_415_problem(client_a: APIClient):
    response = client_a.post("/api/v1/messages/", "channel=x", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    expected = problem(
        415, "unsupported_media_type", 'Unsupported media type "application/x-www-form-urlencoded" in request.'
    )
    assert _problem_of(response) == expected


def test_every_error_the_schema_documents_is_a_problem_document(db: None):
    schema = APIClient().get("/api/v1/schema/").json()

    documented = [
        (url, method, status, sorted(response.get("content", {})))
        for url, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    ]
    assert len(documented) > 50
    assert {media_types[0] for *_, media_types in documented} == {PROBLEM_CONTENT_TYPE}
    assert all(len(media_types) == 1 for *_, media_types in documented)
    assert schema["components"]["schemas"]["Problem"]["required"] == ["code", "detail", "status", "title", "type"]
