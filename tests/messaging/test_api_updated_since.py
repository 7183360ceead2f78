"""``updated_since`` on messages and conversations: a poller finds what changed since its last poll, such as a
delivered→read move on an older message or a message arriving in an older conversation, through the real
webhook pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Contact, Conversation, Direction, Message, MessageStatus, MetaApp
from tests.webhooks.test_processing import FIXTURES
from webhooks.models import Delivery
from webhooks.services import delivery_process
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db

SECRET = "u" * 32
PHONE_NUMBER_ID = "106540352242922"  # the fixtures' channel
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def webhook_process(app: MetaApp, fixture: str) -> None:
    body = (FIXTURES / fixture).read_bytes()
    response = Client().post(
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )
    assert response.status_code == 200
    delivery = Delivery.objects.order_by("-received_at").first()
    assert delivery is not None
    delivery_process(delivery_id=delivery.pk)


def conversation_with(channel: Channel, wa_id: str) -> Conversation:
    contact = Contact.objects.create(tenant=channel.tenant, platform="whatsapp", external_id=wa_id)
    return Conversation.objects.create(tenant=channel.tenant, channel=channel, contact=contact)


def sent_message(conversation: Conversation, wamid: str) -> Message:
    message = Message.objects.create(
        tenant=conversation.tenant,
        channel=conversation.channel,
        conversation=conversation,
        contact=conversation.contact,
        direction=Direction.OUTBOUND,
        message_type="text",
        status=MessageStatus.DELIVERED,
        received_at=LONG_AGO,
        provider_timestamp=LONG_AGO,
        provider_message_id=wamid,
        content={"body": "your order shipped"},
    )
    return message


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    meta_app = meta_app_register(tenant=tenant_a, name="app", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    channel_add(
        tenant=tenant_a,
        meta_app=meta_app,
        platform="whatsapp",
        provider_id=PHONE_NUMBER_ID,
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )
    return meta_app


@pytest.fixture
def reader(tenant_a: Tenant) -> APIClient:
    issued = api_key_issue(tenant=tenant_a, name="poller", scopes=[ApiScope.MESSAGES_READ])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def results(reader: APIClient, path: str, since: datetime) -> list[dict[str, Any]]:
    response = reader.get(path, {"updated_since": since.isoformat()})
    assert response.status_code == 200, response.content
    rows: list[dict[str, Any]] = response.json()["results"]
    return rows


def test_a_read_receipt_on_an_older_message_is_found_with_updated_since(app: MetaApp, reader: APIClient) -> None:
    channel = Channel.objects.get(provider_id=PHONE_NUMBER_ID)
    conversation = conversation_with(channel, "16505551234")
    read_wamid = json.loads((FIXTURES / "whatsapp_status_read.json").read_bytes())["entry"][0]["changes"][0]
    read_wamid = read_wamid["value"]["statuses"][0]["id"]
    older = sent_message(conversation, read_wamid)
    untouched = sent_message(conversation, "wamid.UNTOUCHED")
    Message.objects.update(updated_at=LONG_AGO)
    last_poll = timezone.now()

    webhook_process(app, "whatsapp_status_read.json")

    changed = results(reader, "/api/v1/messages/", last_poll)
    assert [(row["id"], row["status"]) for row in changed] == [(str(older.pk), "read")]
    assert datetime.fromisoformat(changed[0]["updated_at"]) >= last_poll
    assert untouched.pk not in {row["id"] for row in changed}
    everything = results(reader, "/api/v1/messages/", LONG_AGO)
    assert {row["id"] for row in everything} == {str(older.pk), str(untouched.pk)}


def test_a_message_arriving_in_an_older_conversation_is_found_with_updated_since(
    app: MetaApp, reader: APIClient
) -> None:
    channel = Channel.objects.get(provider_id=PHONE_NUMBER_ID)
    written_to = conversation_with(channel, "16505551234")  # the fixture's sender
    quiet = conversation_with(channel, "16505550000")
    Conversation.objects.update(updated_at=LONG_AGO)
    last_poll = timezone.now()

    webhook_process(app, "whatsapp_text.json")

    changed = results(reader, "/api/v1/conversations/", last_poll)
    assert [row["id"] for row in changed] == [str(written_to.pk)]
    assert datetime.fromisoformat(changed[0]["updated_at"]) >= last_poll
    assert quiet.pk not in {row["id"] for row in changed}
    assert len(results(reader, "/api/v1/conversations/", last_poll - timedelta(days=365))) == 2


def test_a_malformed_updated_since_answers_400(reader: APIClient) -> None:
    for path in ("/api/v1/messages/", "/api/v1/conversations/"):
        response = reader.get(path, {"updated_since": "yesterday"})
        assert response.status_code == 400
        assert [error["field"] for error in response.json()["errors"]] == ["updated_since"]
