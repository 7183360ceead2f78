"""Chunked webhook bodies (no Content-Length) through a real gunicorn, and refused where they cannot be read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import meta_app_register
from messaging.models import MetaApp
from tests.live_gunicorn import LiveGunicorn, live_gunicorn
from tests.webhooks.test_processing import FIXTURES
from webhooks.models import Delivery
from webhooks.signature import signature_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SECRET = "c" * 32


@pytest.fixture
def app() -> MetaApp:
    tenant = Tenant.objects.create(name="Chunked", slug="chunked")
    return meta_app_register(tenant=tenant, name="App", app_secret=SECRET, actor=CLI_ACTOR).meta_app


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveGunicorn]:
    with live_gunicorn(tmp_path / "gunicorn.log") as live:
        yield live


def _post_chunked(server: LiveGunicorn, app: MetaApp, body: bytes, signature: str) -> int:
    pieces = (body[start : start + 65_536] for start in range(0, len(body), 65_536))
    connection = server.connection()
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked", "X-Hub-Signature-256": signature}
    connection.request("POST", f"/webhooks/meta/{app.app_key}/", body=pieces, headers=headers, encode_chunked=True)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def test_a_signed_chunked_body_is_read_whole_stored_and_answered_200(server: LiveGunicorn, app: MetaApp):
    body = (FIXTURES / "whatsapp_text.json").read_bytes() + b" " * 200_000  # several chunks

    status = _post_chunked(server, app, body, signature_for(SECRET, body))

    assert status == 200, server.log()[-2000:]
    delivery = Delivery.objects.get()
    assert (bytes(delivery.body), delivery.body_bytes) == (body, len(body))


def test_a_chunked_body_past_the_cap_is_413_and_stores_nothing(server: LiveGunicorn, app: MetaApp):
    body = b" " * (settings.GATEWAY_WEBHOOK_MAX_BYTES + 1)

    assert _post_chunked(server, app, body, signature_for(SECRET, body)) == 413
    assert not Delivery.objects.exists()


def test_a_chunked_body_with_a_wrong_signature_is_401_and_stores_nothing(server: LiveGunicorn, app: MetaApp):
    body = (FIXTURES / "whatsapp_text.json").read_bytes()

    assert _post_chunked(server, app, body, signature_for("x" * 32, body)) == 401
    assert not Delivery.objects.exists()


def test_a_server_that_cannot_read_chunked_bodies_answers_411(app: MetaApp):
    body = (FIXTURES / "whatsapp_text.json").read_bytes()

    response = Client().generic(
        "POST",
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )

    assert response.status_code == 411
    assert not Delivery.objects.exists()
