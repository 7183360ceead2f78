"""The webhook edge's short way through the middleware: what it skips, and what still applies."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import override_settings

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import meta_app_register
from messaging.models import MetaApp
from webhooks.middleware import WebhookEdgeMiddleware
from webhooks.models import Delivery
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db
SECRET = "m" * 32
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant_a, name="Edge app", app_secret=SECRET, actor=CLI_ACTOR).meta_app


class Rest:
    """Stands for the middleware after the edge's: records whether a request went on to it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.paths.append(request.path_info)
        return HttpResponse("the rest", status=299)


def _signed(path: str) -> HttpRequest:
    return RequestFactory().post(
        path, BODY, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, BODY)
    )


def test_a_webhook_is_answered_by_its_view_without_the_rest_of_the_middleware(app: MetaApp) -> None:
    rest = Rest()

    response = WebhookEdgeMiddleware(rest)(_signed(f"/webhooks/meta/{app.app_key}/"))

    assert response.status_code == 200
    assert rest.paths == []
    assert Delivery.objects.filter(meta_app=app).count() == 1


def test_other_paths_and_webhook_paths_without_a_view_go_the_usual_way(app: MetaApp) -> None:
    rest = Rest()
    edge = WebhookEdgeMiddleware(rest)
    paths = ["/admin/login/", "/api/v1/messages/", "/webhooks/", "/webhooks/meta/", f"/webhooks/meta/{app.app_key}"]

    answers = [edge(_signed(path)).status_code for path in paths]

    assert answers == [299] * len(paths)
    assert rest.paths == paths
    assert Delivery.objects.count() == 0


def test_the_edge_sits_right_after_the_security_middleware() -> None:
    edge = settings.MIDDLEWARE.index("webhooks.middleware.WebhookEdgeMiddleware")

    assert settings.MIDDLEWARE[edge - 1] == "django.middleware.security.SecurityMiddleware"


def test_a_webhook_with_a_session_cookie_sets_no_cookie_and_no_session_header(app: MetaApp) -> None:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = "not-a-session"
    client.cookies[settings.CSRF_COOKIE_NAME] = "not-a-token"

    response = client.post(
        f"/webhooks/meta/{app.app_key}/",
        BODY,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, BODY),
    )

    assert response.status_code == 200
    assert response.cookies == {}
    assert "Vary" not in response.headers
    assert "X-Frame-Options" not in response.headers  # the rest of the stack did not run


@override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=3600)
def test_the_https_redirect_and_hsts_still_apply_to_webhooks(app: MetaApp) -> None:
    path = f"/webhooks/meta/{app.app_key}/"
    signature = signature_for(SECRET, BODY)

    plain = Client().post(path, BODY, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature)
    secure = Client().post(path, BODY, content_type="application/json", secure=True, HTTP_X_HUB_SIGNATURE_256=signature)

    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"] == "max-age=3600"
    assert Delivery.objects.filter(meta_app=app).count() == 1


def test_a_webhook_for_a_host_not_allowed_is_refused_and_not_stored(app: MetaApp) -> None:
    response = Client().post(
        f"/webhooks/meta/{app.app_key}/",
        BODY,
        content_type="application/json",
        HTTP_HOST="attacker.example",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, BODY),
    )

    assert response.status_code == 400
    assert Delivery.objects.count() == 0
