"""The ingest worker's statements for a lone one-message delivery: a ceiling, so the count cannot creep back.

The delivery goes through the task a worker runs (a batch of one: its channel and the tenant's endpoints are read
for it alone), with an endpoint subscribed to ``message.received``, so the message, its event and the delivery
owed to the endpoint are all written. PostgreSQL counts every round trip (``BEGIN``, ``SET LOCAL``, ``COMMIT``);
SQLite has no ``SET LOCAL`` and checks which rows went in with a query before and after each insert.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from events.models import Endpoint, Event, EventDelivery
from messaging.business_events import EventType
from messaging.channels import channel_add, meta_app_register
from messaging.models import Contact, Message, MetaApp
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import delivery_record
from webhooks.signature import signature_for
from webhooks.tasks import process_deliveries_task

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "meta" / "whatsapp_text.json"
SECRET = "s" * 32
# (known contact, new contact): PostgreSQL and SQLite
STATEMENTS = {"postgresql": (14, 19), "sqlite": (20, 33)}


@pytest.fixture
def app_a(tenant_a: Tenant) -> MetaApp:
    app = meta_app_register(tenant=tenant_a, name="A", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    channel_add(
        tenant=tenant_a,
        meta_app=app,
        platform="whatsapp",
        provider_id="106540352242922",
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )
    Endpoint.objects.create(
        tenant=tenant_a,
        url="http://127.0.0.1:9/hook",
        event_types=[EventType.MESSAGE_RECEIVED.value],
        secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    return app


def _warm_up(app: MetaApp) -> None:
    """Two deliveries first: the tenant's first keys are made by the first, and cached by the second."""
    for message_id in ("wamid.first", "wamid.again"):
        stored = _stored(app, message_id=message_id, sender="16505551234")
        assert process_deliveries_task([stored]) == {"stored": 1, "problems": 0}


def _stored(app: MetaApp, *, message_id: str, sender: str) -> str:
    payload: dict[str, Any] = json.loads(FIXTURE.read_text())
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"][0]["id"] = message_id
    value["messages"][0]["from"] = value["contacts"][0]["wa_id"] = sender
    body = json.dumps(payload).encode()
    delivery = delivery_record(
        meta_app_id=app.pk, tenant_id=app.tenant_id, body=body, signature=signature_for(SECRET, body)
    )
    return str(delivery.pk)


@pytest.mark.django_db(transaction=True)  # autocommit, as a worker runs: its own BEGIN and COMMIT
def test_a_lone_delivery_from_a_known_contact_stays_within_its_statements(
    app_a: MetaApp, django_assert_max_num_queries: Any
) -> None:
    _warm_up(app_a)
    delivery_id = _stored(app_a, message_id="wamid.second", sender="16505551234")

    with django_assert_max_num_queries(STATEMENTS[connection.vendor][0]):
        assert process_deliveries_task([delivery_id]) == {"stored": 1, "problems": 0}

    assert Delivery.objects.get(pk=delivery_id).status == DeliveryStatus.PROCESSED
    assert (Message.objects.count(), Contact.objects.count()) == (3, 1)
    assert (Event.objects.count(), EventDelivery.objects.count()) == (3, 3)  # the warm-up's two, and this one's


@pytest.mark.django_db(transaction=True)  # autocommit, as a worker runs: its own BEGIN and COMMIT
def test_a_lone_delivery_from_a_new_contact_stays_within_its_statements(
    app_a: MetaApp, django_assert_max_num_queries: Any
) -> None:
    _warm_up(app_a)
    delivery_id = _stored(app_a, message_id="wamid.other", sender="16505559876")

    with django_assert_max_num_queries(STATEMENTS[connection.vendor][1]):
        assert process_deliveries_task([delivery_id]) == {"stored": 1, "problems": 0}

    assert Delivery.objects.get(pk=delivery_id).status == DeliveryStatus.PROCESSED
    assert (Message.objects.count(), Contact.objects.count()) == (3, 2)
    assert sorted(contact.external_id for contact in Contact.objects.all()) == ["16505551234", "16505559876"]
    assert (Event.objects.count(), EventDelivery.objects.count()) == (3, 3)
