"""Arbitrary signed bodies never break the pipeline; content markers never appear in plaintext anywhere."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import MetaApp
from tests.broker import broker_blobs
from tests.webhooks.test_processing import FIXTURES
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import delivery_process
from webhooks.signature import signature_for

SECRET = "r" * 32
PHONE_NUMBER_ID = "106540352242922"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
message_like = st.fixed_dictionaries(
    {
        "from": st.text(max_size=15),
        "id": st.text(max_size=30),
        "timestamp": st.one_of(st.text(max_size=12), st.integers()),
        "type": st.sampled_from(["text", "image", "reaction", "order", "interactive", "weird", ""]),
    },
    optional={"text": json_values, "image": json_values, "context": json_values},
)
whatsapp_like = st.builds(
    lambda messages, statuses, extra: {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": PHONE_NUMBER_ID},
                            "messages": messages,
                            "statuses": statuses,
                            **extra,
                        },
                    }
                ],
            }
        ],
    },
    st.lists(message_like, max_size=3),
    st.lists(json_values, max_size=2),
    st.dictionaries(st.text(max_size=6), json_values, max_size=2),
)


def _setup() -> MetaApp:
    tenant = Tenant.objects.create(name="Fuzz", slug=f"fuzz-{uuid.uuid4().hex[:8]}")
    app = meta_app_register(tenant=tenant, name="Fuzz", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    channel_add(
        tenant=tenant,
        meta_app=app,
        platform="whatsapp",
        provider_id=PHONE_NUMBER_ID,
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )
    return app


def _post_and_process(app: MetaApp, body: bytes) -> int:
    status = (
        Client()
        .post(
            f"/webhooks/meta/{app.app_key}/",
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
        )
        .status_code
    )
    if status == 200:
        delivery = Delivery.objects.order_by("-received_at").first()
        assert delivery is not None
        delivery_process(delivery_id=delivery.pk)
    return status


class SignedArbitraryBodies(TestCase):
    """A thousand signed bodies, JSON or not, WhatsApp-shaped or not: every one stored, processed, answered 200."""

    @settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(payload=st.one_of(whatsapp_like, json_values, st.binary(max_size=256)))
    def test_every_body_is_stored_and_processed(self, payload: Any) -> None:
        app = _setup()
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()

        assert _post_and_process(app, body) == 200
        assert Delivery.objects.filter(meta_app=app, status=DeliveryStatus.PROCESSED).count() == 1


@pytest.mark.django_db
def test_content_markers_from_200_webhooks_appear_nowhere_in_plaintext(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = _setup()
    template = json.loads((FIXTURES / "whatsapp_text.json").read_bytes())
    markers = []
    for index in range(200):
        marker = f"canary{uuid.uuid4().hex}"
        markers.append(marker)
        message = template["entry"][0]["changes"][0]["value"]["messages"][0]
        message["id"] = f"wamid.{index}"
        message["text"]["body"] = f"hello {marker}"
        template["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = marker
        assert _post_and_process(app, json.dumps(template).encode()) == 200

    stored = _every_stored_byte()
    assert not [marker for marker in markers if marker.encode() in stored]
    assert not [marker for marker in markers if marker in caplog.text]


def _every_stored_byte() -> bytes:
    chunks: list[bytes] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(_as_bytes(value) for row in cursor.fetchall() for value in row)
    chunks.extend(broker_blobs())
    return b"\n".join(chunks)


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    return str(value).encode()
