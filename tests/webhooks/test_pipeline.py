"""End to end with a real worker: a signed POST is acknowledged, then processed by the `ingest` queue."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Message, MetaApp
from tests.conftest import wait_for, worker_process
from tests.webhooks.test_processing import FIXTURES
from webhooks.models import Delivery, DeliveryStatus
from webhooks.signature import signature_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def pipeline_app() -> MetaApp:
    """A tenant's Meta app (secret ``"p" * 32``) with the WhatsApp channel of the fixtures' phone number id."""
    tenant = Tenant.objects.create(name="Pipeline", slug="pipeline")
    app = meta_app_register(tenant=tenant, name="App", app_secret="p" * 32, actor=CLI_ACTOR).meta_app
    channel_add(
        tenant=tenant,
        meta_app=app,
        platform="whatsapp",
        provider_id="106540352242922",
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )
    return app


def test_a_signed_post_is_stored_then_processed_by_a_worker_process() -> None:
    app = pipeline_app()
    body = (FIXTURES / "whatsapp_text.json").read_bytes()

    with worker_process("ingest") as worker:
        response = Client().post(
            f"/webhooks/meta/{app.app_key}/",
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signature_for("p" * 32, body),
        )

        assert response.status_code == 200
        assert wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.PROCESSED).exists()), worker.log()
    message = Message.objects.get()
    assert (message.tenant, message.message_type, message.direction) == (app.tenant, "text", "inbound")


TEXT_ID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="


def _deep_bodies() -> dict[str, bytes]:
    """A body nested past the decoder's recursion limit, and a real message whose unknown-type payload is nested
    900 deep: decodable, but deeper than anything Meta sends and than storing it can take."""
    document = json.loads((FIXTURES / "whatsapp_text.json").read_text())
    message = document["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"], message["type"] = "wamid.DEEP", "order"
    message["order"] = json.loads("[" * 900 + "]" * 900)
    return {"past_the_decoder": b"[" * 100_000 + b"]" * 100_000, "inside_a_message": json.dumps(document).encode()}


def test_deeply_nested_signed_bodies_are_unreadable_once_not_retried_and_the_worker_goes_on() -> None:
    app = pipeline_app()

    def post(body: bytes) -> int:
        return (
            Client()
            .post(
                f"/webhooks/meta/{app.app_key}/",
                body,
                content_type="application/json",
                HTTP_X_HUB_SIGNATURE_256=signature_for("p" * 32, body),
            )
            .status_code
        )

    with worker_process("ingest") as worker:
        assert [post(body) for body in _deep_bodies().values()] == [200, 200]
        assert wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.RECEIVED).count() == 0)
        assert post((FIXTURES / "whatsapp_text.json").read_bytes()) == 200
        assert wait_for(Message.objects.exists)
        assert worker.poll() is None
        assert wait_for(lambda: worker.log().count("webhook delivery unreadable") >= 2)
        log = worker.log()

    deliveries = list(Delivery.objects.order_by("received_at").values_list("status", "attempts"))
    assert deliveries == [(DeliveryStatus.PROCESSED, 1)] * 3
    assert [message.provider_message_id for message in Message.objects.all()] == [TEXT_ID]
    assert log.count("webhook delivery unreadable") == 2
    assert "RecursionError" not in log
