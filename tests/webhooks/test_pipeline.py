"""End to end with a real worker: a signed POST is acknowledged, then processed by the `ingest` queue."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.models import Message
from messaging.services import channel_add, meta_app_register
from tests.conftest import wait_for, worker_process
from tests.webhooks.test_processing import FIXTURES
from webhooks.models import Delivery, DeliveryStatus
from webhooks.signature import signature_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_signed_post_is_stored_then_processed_by_a_worker_process() -> None:
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
    assert (message.tenant, message.message_type, message.direction) == (tenant, "text", "inbound")
