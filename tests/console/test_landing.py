"""The landing page at ``/``, the health endpoints and the API docs served from the gateway's own static files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from celery import current_app
from django.contrib.staticfiles import finders
from django.db import OperationalError, connection
from django.test import Client
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

SWAGGER_BUNDLE = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"


def test_the_landing_page_says_what_the_gateway_is_and_links_admin_docs_schema_and_health() -> None:
    response = Client().get("/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "self-hosted gateway between Meta's business messaging platforms" in page
    for url in ("/admin/", "/api/docs/", "/api/docs/redoc/", "/api/v1/schema/", "/healthz", "/readyz"):
        assert f'href="{url}"' in page, url


def test_the_landing_page_answers_get_and_head_only() -> None:
    client = Client()

    assert (client.head("/").status_code, client.post("/").status_code) == (200, 405)


def test_the_admins_view_site_link_leads_to_the_landing_page(operator_client: Client, operator: User) -> None:
    index = operator_client.get(reverse("admin:index"))

    assert index.status_code == 200
    assert re.search(r'<a href="/"[^>]*>\s*View site', index.content.decode())
    assert operator_client.get("/").status_code == 200


def test_liveness_answers_ok_as_plain_text_and_is_never_cached() -> None:
    response = Client().get("/healthz")

    assert (response.status_code, response.content, response["Content-Type"]) == (
        200,
        b"ok",
        "text/plain; charset=utf-8",
    )
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_probes_answer_over_plain_http_when_https_is_enforced(settings: Any, path: str) -> None:
    settings.SECURE_SSL_REDIRECT = True

    assert Client().get("/").status_code == 301
    assert Client().get(path).status_code == 200


def test_readiness_is_ok_when_the_database_and_the_broker_answer() -> None:
    response = Client().get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "key_provider": "ok"}}


def _refuse_queries(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    raise OperationalError("connection to server at 10.0.0.5 failed: password authentication failed for user x")


def test_readiness_names_an_unreachable_database_and_nothing_of_its_error() -> None:
    with connection.execute_wrapper(_refuse_queries):
        response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "unreachable", "broker": "ok", "key_provider": "ok"},
    }
    assert b"10.0.0.5" not in response.content and b"password" not in response.content


@pytest.fixture
def unreachable_broker() -> Iterator[None]:
    """The Celery app's broker moved to a Redis port where nothing listens, with a password in its URL."""
    saved = {"broker_url": current_app.conf.broker_url, "broker_transport": current_app.conf.broker_transport}
    current_app.conf.update(broker_url="redis://:s3cret@127.0.0.1:9/0", broker_transport=None)
    yield
    current_app.conf.update(saved)


@pytest.mark.usefixtures("unreachable_broker")
def test_readiness_names_an_unreachable_broker_and_not_its_url() -> None:
    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "unreachable", "key_provider": "ok"},
    }
    assert b"s3cret" not in response.content and b"127.0.0.1" not in response.content


@pytest.mark.parametrize(("url", "bundle"), [("/api/docs/", SWAGGER_BUNDLE), ("/api/docs/redoc/", REDOC_BUNDLE)])
def test_the_api_docs_render_the_schema_with_local_assets_and_no_cdn(url: str, bundle: str) -> None:
    response = Client().get(url)

    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert f"/static/{bundle}" in page
    assert "/api/v1/schema/" in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    assert finders.find(bundle) is not None  # the asset the page loads is served by this gateway


def test_the_schema_the_docs_render_is_public_json() -> None:
    response = Client().get("/api/v1/schema/")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Meta gateway API"
