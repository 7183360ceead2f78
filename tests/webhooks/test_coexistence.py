"""A number shared with the WhatsApp Business app, end to end: Meta's documented echo, history and address book
webhooks posted signed to the real endpoint, stored, read back through the API field by field, with their
events (or, for history, none), the tenant's retention counted from each historical message's own time, the
channel marked as coexistence, and every redelivery changing nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from events.models import Event
from messaging.business_events import EventType
from messaging.channels import channel_add, meta_app_register
from messaging.lifetimes import lifetimes_cache_clear
from messaging.models import Channel, ChannelEvent, Contact, Conversation, Message, MetaApp
from policies.retention.services import retention_policy_update
from webhooks.models import Delivery
from webhooks.services import delivery_process
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
SECRET = "c" * 32
PHONE_NUMBER_ID = "106540352242922"
USER = "16505551234"
WAMID_ECHO = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
WAMID_USER = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
WAMID_BUSINESS = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MDhDRDJBOTg2QUQ5QkU1MjQA"
LONG_CONTENT_DAYS, LONG_METADATA_DAYS = 3000, 3650


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    meta_app = meta_app_register(tenant=tenant_a, name="Coexistence", app_secret=SECRET, actor=CLI_ACTOR).meta_app
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
def api(tenant_a: Tenant) -> APIClient:
    issued = api_key_issue(tenant=tenant_a, name="coexistence", scopes=[ApiScope.MESSAGES_READ, ApiScope.CONTACTS_READ])
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


@pytest.fixture
def long_retention(tenant_a: Tenant, settings: Settings) -> None:
    """A tenant that keeps content 3,000 days: long enough for Meta's 2025 examples to be imported today."""
    settings.GATEWAY_CONTENT_MAX_DAYS = LONG_METADATA_DAYS
    values = {"content_max_days": LONG_CONTENT_DAYS, "metadata_days": LONG_METADATA_DAYS}
    retention_policy_update(tenant=tenant_a, actor=CLI_ACTOR, values=values)
    lifetimes_cache_clear()


def _post(app: MetaApp, body: bytes) -> dict[str, int]:
    """Signed POST to the real endpoint, then the processing the `ingest` worker runs for that delivery."""
    before = set(Delivery.objects.values_list("pk", flat=True))
    response = Client().post(
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )
    assert response.status_code == 200
    (delivery,) = Delivery.objects.exclude(pk__in=before)
    return dict(delivery_process(delivery_id=delivery.pk))


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _document(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_fixture(name))
    return document


def _value(document: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = document["entry"][0]["changes"][0]["value"]
    return value


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _message(wamid: str) -> Message:
    matches: list[Message] = [row for row in Message.objects.all() if row.provider_message_id == wamid]
    (message,) = matches
    return message


def _shown(api: APIClient, message: Message) -> dict[str, Any]:
    response = api.get(f"/api/v1/messages/{message.pk}/")
    assert response.status_code == 200
    shown: dict[str, Any] = response.json()
    return shown


def _channel() -> Channel:
    return Channel.objects.get(provider_id=PHONE_NUMBER_ID)


def _address_book_body(changes: list[tuple[str, str, str | None, int]]) -> bytes:
    """An ``smb_app_state_sync`` body like Meta's example, one state per (number, action, full name, time)."""
    document = _document("whatsapp_smb_app_state_sync.json")
    states = []
    for number, action, full_name, at in changes:
        contact = {"phone_number": number}
        if full_name is not None:
            contact |= {"full_name": full_name, "first_name": full_name.split()[0]}
        states.append({"type": "contact", "contact": contact, "action": action, "metadata": {"timestamp": str(at)}})
    _value(document)["state_sync"] = states
    return json.dumps(document).encode()


# --- smb_message_echoes ---------------------------------------------------------------------------------


def test_an_app_echo_is_an_outbound_message_sent_elsewhere_with_its_event_once(app: MetaApp, api: APIClient) -> None:
    assert _post(app, _fixture("whatsapp_smb_message_echoes.json")) == {"echo": 1, "problems": 0}
    assert _post(app, _fixture("whatsapp_smb_message_echoes.json")) == {"duplicate": 1, "problems": 0}

    echo = _message(WAMID_ECHO)
    shown = _shown(api, echo)
    assert (shown["platform"], shown["direction"], shown["type"], shown["text"], shown["status"]) == (
        "whatsapp",
        "outbound",
        "text",
        "Here's the info you requested! https://www.meta.com/quest/quest-3/",
        "sent",
    )
    assert (shown["is_sent_elsewhere"], shown["historical"], shown["author"]) == (True, False, None)
    assert shown["provider_message_id"] == WAMID_ECHO
    assert shown["provider_timestamp"] == "2025-02-12T00:43:44Z"
    assert shown["content"] == _value(_document("whatsapp_smb_message_echoes.json"))["message_echoes"][0]
    contact = api.get(f"/api/v1/contacts/{echo.contact_id}/").json()
    assert (contact["platform"], contact["external_id"], contact["profile"]) == ("whatsapp", USER, None)
    conversation = api.get(f"/api/v1/conversations/{echo.conversation_id}/").json()
    assert conversation["last_inbound_at"] is None  # the business writing opens no window
    assert api.get(f"/api/v1/channels/{echo.channel_id}/").json()["is_coexistence"] is True
    assert _channel().send_rate == 20

    (event,) = Event.objects.filter(type=EventType.MESSAGE_ECHO)
    assert (event.message_id, event.contact_id, event.channel_id) == (echo.pk, echo.contact_id, echo.channel_id)
    assert event.facts == {"direction": "outbound", "type": "text", "platform": "whatsapp"}


def test_an_echo_and_the_user_reply_share_one_contact_and_conversation(app: MetaApp) -> None:
    _post(app, _fixture("whatsapp_smb_message_echoes.json"))
    _post(app, _fixture("whatsapp_text.json"))  # Sheena (16505551234) writes on the same number

    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1
    assert sorted(Message.objects.values_list("direction", flat=True)) == ["inbound", "outbound"]


# --- history --------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("long_retention")
def test_history_is_imported_field_by_field_without_events_and_once(app: MetaApp, api: APIClient) -> None:
    body = _fixture("whatsapp_history.json")
    before = timezone.now()

    assert _post(app, body) == {"historical": 2, "channel_event": 1, "problems": 0}
    assert _post(app, body) == {"duplicate": 3, "problems": 0}

    received, sent = _message(WAMID_USER), _message(WAMID_BUSINESS)
    for message, sent_at in ((received, 1739230955), (sent, 1739231012)):
        assert message.is_historical is True
        assert message.provider_timestamp == _at(sent_at)
        assert message.received_at >= before
        # retention counts from when it was sent, not from the import
        assert message.content_expires_at == _at(sent_at) + timedelta(days=LONG_CONTENT_DAYS)
        assert message.metadata_expires_at == _at(sent_at) + timedelta(days=LONG_METADATA_DAYS)
        assert message.content_key_day == (_at(sent_at) + timedelta(days=LONG_CONTENT_DAYS)).date()

    shown_received, shown_sent = _shown(api, received), _shown(api, sent)
    assert (shown_received["direction"], shown_received["status"], shown_received["is_sent_elsewhere"]) == (
        "inbound",
        "received",
        False,
    )
    assert shown_received["text"] == "Does it come in another color?"
    assert (shown_sent["direction"], shown_sent["status"], shown_sent["is_sent_elsewhere"]) == (
        "outbound",
        "delivered",  # history_context.status DELIVERED
        True,
    )
    assert shown_sent["text"] == "Yes, it also comes in white \N{EM DASH} see https://www.meta.com/quest/quest-3/"
    assert (shown_received["historical"], shown_sent["historical"]) == (True, True)
    assert shown_sent["provider_timestamp"] == "2025-02-10T23:43:32Z"
    assert shown_sent["content"]["history_context"] == {"status": "DELIVERED"}
    assert shown_sent["content_expires_at"] == "2033-04-29T23:43:32Z"
    assert received.conversation_id == sent.conversation_id
    conversation = api.get(f"/api/v1/conversations/{received.conversation_id}/").json()
    assert conversation["last_inbound_at"] == "2025-02-10T23:42:35Z"
    assert conversation["last_message"]["id"] == str(sent.pk)

    assert not Event.objects.exists()  # an import is not news
    (progress,) = ChannelEvent.objects.all()  # where the import stands is channel news, once
    assert (progress.channel, progress.field) == (_channel(), "history")
    assert progress.payload == {"phase": 0, "chunk_order": 1, "progress": 55, "threads": 1, "messages": 2}
    assert _channel().is_coexistence is True


@pytest.mark.usefixtures("long_retention")
def test_the_messages_api_filters_on_historical(app: MetaApp, api: APIClient) -> None:
    _post(app, _fixture("whatsapp_history.json"))
    _post(app, _fixture("whatsapp_smb_message_echoes.json"))

    def listed(params: dict[str, str]) -> list[str]:
        response = api.get("/api/v1/messages/", params)
        assert response.status_code == 200, response.content
        return sorted(message["provider_message_id"] for message in response.json()["results"])

    assert listed({"historical": "true"}) == sorted([WAMID_USER, WAMID_BUSINESS])
    assert listed({"historical": "false"}) == [WAMID_ECHO]
    assert len(listed({})) == 3
    refused = api.get("/api/v1/messages/", {"historical": "sometimes"})
    assert (refused.status_code, refused["Content-Type"]) == (400, "application/problem+json")


def test_history_past_the_tenant_retention_is_not_imported_and_the_rest_is(app: MetaApp) -> None:
    """Under the default policy (content kept 365 days) a message sent 400 days ago is left out."""
    document = _document("whatsapp_history.json")
    old, recent = _value(document)["history"][0]["threads"][0]["messages"]
    now = int(timezone.now().timestamp())
    old["timestamp"], recent["timestamp"] = str(now - 400 * 86400), str(now - 10 * 86400)

    assert _post(app, json.dumps(document).encode()) == {
        "historical": 1,
        "history_expired": 1,
        "channel_event": 1,
        "problems": 0,
    }

    (kept,) = Message.objects.all()
    assert (kept.provider_message_id, kept.is_historical) == (WAMID_BUSINESS, True)
    assert kept.content_expires_at == _at(now - 10 * 86400) + timedelta(days=365)
    assert Contact.objects.count() == 1


@pytest.mark.usefixtures("long_retention")
def test_a_policy_shortening_delivered_content_counts_a_delivered_history_message_from_its_sending(
    app: MetaApp, tenant_a: Tenant
) -> None:
    """Meta says the business's reply was delivered, not when: no earlier than it was sent, so content kept 30
    days after delivery was due in March 2025 and is not imported; the user's message is kept its 3,000 days."""
    retention_policy_update(tenant=tenant_a, actor=CLI_ACTOR, values={"content_days_after_delivery": 30})
    lifetimes_cache_clear()

    assert _post(app, _fixture("whatsapp_history.json")) == {
        "historical": 1,
        "history_expired": 1,
        "channel_event": 1,
        "problems": 0,
    }

    (kept,) = Message.objects.all()
    assert (kept.provider_message_id, kept.direction) == (WAMID_USER, "inbound")
    assert kept.content_expires_at == _at(1739230955) + timedelta(days=LONG_CONTENT_DAYS)


@pytest.mark.usefixtures("long_retention")
def test_a_history_message_already_echoed_is_a_duplicate_not_a_second_row(app: MetaApp) -> None:
    document = _document("whatsapp_history.json")
    _value(document)["history"][0]["threads"][0]["messages"][1]["id"] = WAMID_ECHO

    _post(app, _fixture("whatsapp_smb_message_echoes.json"))
    assert _post(app, json.dumps(document).encode()) == {
        "historical": 1,
        "duplicate": 1,
        "channel_event": 1,
        "problems": 0,
    }

    echo = _message(WAMID_ECHO)
    assert (echo.is_historical, echo.is_sent_elsewhere) == (False, True)
    assert Event.objects.filter(type=EventType.MESSAGE_ECHO).count() == 1
    assert Event.objects.count() == 1


def test_a_declined_history_is_channel_news_once(app: MetaApp) -> None:
    assert _post(app, _fixture("whatsapp_history_declined.json")) == {"channel_event": 1, "problems": 0}
    assert _post(app, _fixture("whatsapp_history_declined.json")) == {"duplicate": 1, "problems": 0}

    (news,) = ChannelEvent.objects.all()
    assert (news.channel, news.field, news.payload["code"]) == (_channel(), "history", 2593109)
    assert not Message.objects.exists()


# --- smb_app_state_sync ---------------------------------------------------------------------------------


def test_an_address_book_addition_creates_the_contact_with_the_saved_names(app: MetaApp, api: APIClient) -> None:
    assert _post(app, _fixture("whatsapp_smb_app_state_sync.json")) == {"address_book": 1, "problems": 0}
    assert _post(app, _fixture("whatsapp_smb_app_state_sync.json")) == {"duplicate": 1, "problems": 0}

    (contact,) = api.get("/api/v1/contacts/", {"external_id": USER}).json()["results"]
    assert (contact["platform"], contact["external_id"]) == ("whatsapp", USER)
    assert contact["profile"] == {
        "address_book": {
            "full_name": "Pablo Morales",
            "first_name": "Pablo",
            "saved": True,
            "synced_at": "2025-02-12T00:43:44+00:00",
        }
    }
    assert not Event.objects.exists()
    assert _channel().is_coexistence is True


def test_the_address_book_keeps_the_newest_change_and_the_whatsapp_profile(app: MetaApp) -> None:
    _post(app, _fixture("whatsapp_text.json"))  # the user's own profile name: Sheena Nelson
    _post(app, _fixture("whatsapp_smb_app_state_sync.json"))  # saved as Pablo Morales at 1739321024

    outcome = _post(
        app, _address_book_body([(USER, "remove", None, 1739321100), (USER, "add", "Old Name", 1739320000)])
    )

    assert outcome == {"address_book": 1, "duplicate": 1, "problems": 0}
    (contact,) = Contact.objects.all()
    assert contact.profile == {
        "name": "Sheena Nelson",
        "address_book": {
            "full_name": None,
            "first_name": None,
            "saved": False,
            "synced_at": "2025-02-12T00:45:00+00:00",
        },
    }
    assert Message.objects.count() == 1  # a removal keeps the person and their messages


def test_removing_a_number_never_seen_creates_nothing(app: MetaApp) -> None:
    assert _post(app, _address_book_body([("+44 7700 900123", "remove", None, 1739321100)])) == {
        "address_book_unknown": 1,
        "problems": 0,
    }
    assert not Contact.objects.exists()


def test_an_address_book_change_touches_only_its_own_tenant_contact(app: MetaApp, tenant_b: Tenant) -> None:
    other_app = meta_app_register(tenant=tenant_b, name="Other", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    channel_add(
        tenant=tenant_b,
        meta_app=other_app,
        platform="whatsapp",
        provider_id="1122334455667",
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )
    text = _document("whatsapp_text.json")
    _value(text)["metadata"]["phone_number_id"] = "1122334455667"
    _post(other_app, json.dumps(text).encode())  # tenant B knows 16505551234 as Sheena Nelson

    assert _post(app, _fixture("whatsapp_smb_app_state_sync.json")) == {"address_book": 1, "problems": 0}

    theirs, ours = Contact.objects.get(tenant=tenant_b), Contact.objects.exclude(tenant=tenant_b).get()
    assert (theirs.external_id, theirs.profile) == (USER, {"name": "Sheena Nelson"})
    assert (ours.external_id, ours.profile["address_book"]["full_name"]) == (USER, "Pablo Morales")
    assert Channel.objects.get(provider_id="1122334455667").is_coexistence is False
