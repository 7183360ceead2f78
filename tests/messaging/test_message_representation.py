"""One message representation for every platform: webhooks in through the real endpoint and processing, read
back through the API (and the events' full payloads, which use the same serializer)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from events.models import Event, PayloadMode
from events.payloads import events_payloads
from messaging.channels import channel_add, meta_app_register
from messaging.models import (
    AuthorKind,
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MetaApp,
)
from messaging.providers.registry import content_normalise
from messaging.providers.sending import SendRequest
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import delivery_process
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
SECRET = "r" * 32
TOKEN = "EAAG" + "r" * 60
PLATFORMS = {"page": "messenger", "instagram": "instagram", "whatsapp_business_account": "whatsapp"}


def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def _route(payload: dict[str, Any]) -> tuple[str, str]:
    """The platform and channel id a fixture is routed to."""
    entry = payload["entry"][0]
    platform = PLATFORMS[payload["object"]]
    if platform == "whatsapp":
        return platform, entry["changes"][0]["value"]["metadata"]["phone_number_id"]
    return platform, entry["id"]


def _raw_item(payload: dict[str, Any]) -> dict[str, Any]:
    """The object Meta sent for the one message of a fixture."""
    entry = payload["entry"][0]
    if "changes" in entry:
        item: dict[str, Any] = entry["changes"][0]["value"]["messages"][0]
        return item
    event: dict[str, Any] = entry["messaging"][0]
    return event


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant_a, name="App", app_secret=SECRET, actor=CLI_ACTOR).meta_app


@pytest.fixture
def reader(tenant_a: Tenant) -> APIClient:
    issued = api_key_issue(tenant=tenant_a, name="reader", scopes=[ApiScope.MESSAGES_READ])
    client = APIClient(REMOTE_ADDR="203.0.113.5")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def _channel(app: MetaApp, platform: str, provider_id: str) -> Channel:
    assert app.tenant is not None
    return channel_add(
        tenant=app.tenant, meta_app=app, platform=platform, provider_id=provider_id, access_token=TOKEN, actor=CLI_ACTOR
    )


def _deliver(app: MetaApp, name: str) -> tuple[Message, dict[str, Any]]:
    """A fixture through the real webhook endpoint and processing, on a channel of its route."""
    payload = _fixture(name)
    _channel(app, *_route(payload))
    body = json.dumps(payload).encode()
    response = Client().post(
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )
    assert response.status_code == 200
    delivery_process(delivery_id=Delivery.objects.get(status=DeliveryStatus.RECEIVED).pk)
    return Message.objects.get(channel__meta_app=app, channel__platform=_route(payload)[0]), payload


def test_a_messenger_text_is_a_text_with_its_text_and_its_raw_event_only_when_asked(app, reader):
    message, payload = _deliver(app, "messenger_text.json")

    shown = reader.get(f"/api/v1/messages/{message.pk}/").json()
    with_raw = reader.get(f"/api/v1/messages/{message.pk}/", {"include": "raw"}).json()

    assert message.message_type == "message"  # stored in Messenger's words, shown in the public vocabulary
    assert (shown["platform"], shown["type"], shown["text"]) == ("messenger", "text", "Hello World")
    assert "raw" not in shown
    assert with_raw["raw"] == _raw_item(payload)
    assert {key: value for key, value in with_raw.items() if key != "raw"} == shown


def test_a_full_event_carries_the_message_exactly_as_the_api_shows_it_without_raw(app, reader):
    message, _ = _deliver(app, "instagram_text.json")
    received = Event.objects.get(message_id=message.pk)

    (payload,) = events_payloads([received], mode=PayloadMode.FULL)

    assert (payload["type"], payload["data"]["type"]) == ("message.received", "text")
    detail = payload["data"]["message_detail"]
    assert (detail["platform"], detail["type"], detail["text"]) == ("instagram", "text", "Hello World")
    assert "raw" not in detail
    assert detail == reader.get(f"/api/v1/messages/{message.pk}/").json()


def test_a_whatsapp_image_shows_its_caption_as_text_and_the_list_carries_raw_when_asked(app, reader):
    _, payload = _deliver(app, "whatsapp_image.json")

    listed = reader.get("/api/v1/messages/").json()["results"]
    listed_raw = reader.get("/api/v1/messages/", {"include": "raw"}).json()["results"]

    assert [(row["platform"], row["type"], row["text"]) for row in listed] == [("whatsapp", "image", "Taj Mahal")]
    assert "raw" not in listed[0]
    assert listed_raw[0]["raw"] == _raw_item(payload)
    assert listed_raw[0]["content"] == _raw_item(payload)  # content is kept as it was


def test_an_unknown_include_answers_400(app, reader):
    message, _ = _deliver(app, "whatsapp_image.json")

    assert reader.get(f"/api/v1/messages/{message.pk}/", {"include": "everything"}).status_code == 400
    assert reader.get("/api/v1/messages/", {"include": "everything"}).status_code == 400


@pytest.mark.parametrize(
    ("fixture", "public_type", "text"),
    [
        ("messenger_attachment_image.json", "image", None),
        ("messenger_postback.json", "postback", "postback title"),
        ("messenger_referral.json", "referral", None),
        ("instagram_text.json", "text", "Hello World"),
        ("instagram_story_mention.json", "story_mention", None),
        ("whatsapp_interactive_button_reply.json", "interactive", None),
        ("whatsapp_button.json", "button", None),
        ("whatsapp_location.json", "location", None),
    ],
)
def test_each_platforms_messages_share_one_vocabulary(app, reader, fixture, public_type, text):
    message, payload = _deliver(app, fixture)

    shown = reader.get(f"/api/v1/messages/{message.pk}/").json()

    assert shown["type"] == public_type
    if text is not None:
        assert shown["text"] == text
    raw = _raw_item(payload)
    if fixture.startswith("whatsapp_interactive"):
        assert shown["text"] == raw["interactive"]["button_reply"]["title"]
    if fixture == "whatsapp_button.json":
        assert shown["text"] == raw["button"]["text"]


def _conversation(channel: Channel, *, last_inbound_at) -> Conversation:
    contact = Contact.objects.create(tenant=channel.tenant, platform=channel.platform, external_id="24680")
    return Conversation.objects.create(
        tenant=channel.tenant, channel=channel, contact=contact, last_inbound_at=last_inbound_at
    )


def _sent(conversation: Conversation, message_type: str, payload: dict[str, Any], **fields: Any) -> Message:
    request = SendRequest(channel_id=conversation.channel_id, message_type=message_type, payload=payload)
    now = timezone.now()
    return Message.objects.create(
        tenant=conversation.tenant,
        channel=conversation.channel,
        conversation=conversation,
        contact=conversation.contact,
        direction=Direction.OUTBOUND,
        message_type=message_type,
        status=fields.pop("status", MessageStatus.QUEUED),
        received_at=now,
        provider_timestamp=fields.pop("provider_timestamp", now),
        content=content_normalise(platform=conversation.channel.platform, request=request),
        **fields,
    )


def test_a_send_shows_its_text_failure_author_and_schedule_and_has_no_raw_object(app, reader):
    conversation = _conversation(_channel(app, "messenger", "111"), last_inbound_at=timezone.now())
    send_at = timezone.now() + timedelta(hours=2)
    text = _sent(
        conversation,
        "text",
        {"body": "Your order shipped"},
        status=MessageStatus.FAILED,
        failure_code=551,
        failure_title="This person isn't available right now",
        author_kind=AuthorKind.HUMAN,
        send_at=send_at,
    )
    attachment = _sent(
        conversation, "attachment", {"type": "file", "url": "https://example.com/a.pdf"}, author_kind=AuthorKind.SYSTEM
    )

    text_shown = reader.get(f"/api/v1/messages/{text.pk}/", {"include": "raw"}).json()
    attachment_shown = reader.get(f"/api/v1/messages/{attachment.pk}/").json()

    assert (text_shown["type"], text_shown["text"], text_shown["raw"]) == ("text", "Your order shipped", None)
    assert text_shown["failure"] == {"code": 551, "title": "This person isn't available right now"}
    assert (text_shown["author"], text_shown["send_at"]) == ("human", send_at.isoformat().replace("+00:00", "Z"))
    assert (attachment_shown["type"], attachment_shown["text"], attachment_shown["failure"]) == ("document", None, None)
    assert attachment_shown["author"] == "system"


def test_conversations_show_their_reply_window_and_last_message_without_content(app, reader):
    opened_at = timezone.now() - timedelta(hours=3)
    conversation = _conversation(_channel(app, "whatsapp", "222"), last_inbound_at=opened_at)
    silent = _conversation(_channel(app, "instagram", "333"), last_inbound_at=None)
    _sent(conversation, "text", {"body": "first"}, provider_timestamp=opened_at)
    newest = _sent(conversation, "image", {"link": "https://example.com/p.jpg", "caption": "secret caption"})

    shown = reader.get(f"/api/v1/conversations/{conversation.pk}/")
    listed = {row["id"]: row for row in reader.get("/api/v1/conversations/").json()["results"]}

    assert shown.json()["window_expires_at"] == (opened_at + timedelta(hours=24)).isoformat().replace("+00:00", "Z")
    assert shown.json()["last_message"] == {
        "id": str(newest.pk),
        "type": "image",
        "direction": "outbound",
        "provider_timestamp": newest.provider_timestamp.isoformat().replace("+00:00", "Z"),
    }
    assert b"secret caption" not in shown.content
    assert listed[str(conversation.pk)] == shown.json()
    assert (listed[str(silent.pk)]["window_expires_at"], listed[str(silent.pk)]["last_message"]) == (None, None)


def _queries(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.django_db(transaction=True)  # committed, as in production: opened keys are cached on commit only
def test_listing_conversations_and_messages_costs_no_more_queries_for_many_rows_than_for_one(app, reader):
    channel = _channel(app, "whatsapp", "444")
    first = _conversation(channel, last_inbound_at=timezone.now())
    _sent(first, "text", {"body": "one"})
    one_conversation = _queries(reader, "/api/v1/conversations/")
    one_message = _queries(reader, "/api/v1/messages/?include=raw")

    for index in range(4):
        contact = Contact.objects.create(tenant=channel.tenant, platform="whatsapp", external_id=f"1355500{index}")
        conversation = Conversation.objects.create(
            tenant=channel.tenant, channel=channel, contact=contact, last_inbound_at=timezone.now()
        )
        _sent(conversation, "text", {"body": f"message {index}"})
        _sent(conversation, "image", {"id": "9876", "caption": f"caption {index}"})

    assert _queries(reader, "/api/v1/conversations/") <= one_conversation
    assert _queries(reader, "/api/v1/messages/?include=raw") <= one_message


def test_the_type_filter_speaks_the_public_vocabulary_on_every_platform(app, reader):
    messenger, _ = _deliver(app, "messenger_text.json")
    whatsapp, _ = _deliver(app, "whatsapp_image.json")

    texts = reader.get("/api/v1/messages/", {"type": "text"}).json()["results"]
    images = reader.get("/api/v1/messages/", {"type": "image"}).json()["results"]
    stored_words = reader.get("/api/v1/messages/", {"type": "message"})

    assert (messenger.message_type, messenger.public_type) == ("message", "text")
    assert [row["id"] for row in texts] == [str(messenger.pk)]
    assert [row["id"] for row in images] == [str(whatsapp.pk)]
    assert stored_words.status_code == 400  # Messenger's own word is not a public type
    assert "type" in json.dumps(stored_words.json())


def test_expired_content_still_shows_the_type_read_when_it_was_written(app, reader):
    message, _ = _deliver(app, "messenger_text.json")
    Message.objects.filter(pk=message.pk).update(content_expires_at=timezone.now() - timedelta(seconds=1))

    shown = reader.get(f"/api/v1/messages/{message.pk}/").json()

    assert (shown["type"], shown["text"], shown["content_expired"]) == ("text", None, True)


def test_rows_written_before_the_public_type_are_named_by_the_migration_then_the_fill_command(app, reader):
    from importlib import import_module

    from django.apps import apps
    from django.core.management import call_command

    migration = import_module("messaging.migrations.0015_message_public_type")
    messenger, _ = _deliver(app, "messenger_text.json")
    whatsapp, _ = _deliver(app, "whatsapp_image.json")
    Message.objects.update(public_type="")

    assert [row["id"] for row in reader.get("/api/v1/messages/", {"type": "image"}).json()["results"]] == [
        str(whatsapp.pk)  # an unfilled WhatsApp row matches by its stored type, which is the public name
    ]
    migration.public_types_known_without_content(apps, None)
    assert dict(Message.objects.values_list("pk", "public_type")) == {whatsapp.pk: "image", messenger.pk: ""}

    out = io.StringIO()
    call_command("messages_public_types", "--batch-size", "1", stdout=out)

    assert dict(Message.objects.values_list("pk", "public_type")) == {whatsapp.pk: "image", messenger.pk: "text"}
    assert "1 filled, 0 to go" in out.getvalue() and "1 messages given their public type" in out.getvalue()
    assert [row["id"] for row in reader.get("/api/v1/messages/", {"type": "text"}).json()["results"]] == [
        str(messenger.pk)
    ]
