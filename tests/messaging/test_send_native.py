"""Send requests in Meta's own shapes, pasted from its documentation, through the real HTTP stack: each is
stored as the send API's own shape would be, so the same Graph body goes out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Contact, Conversation, Direction, Message
from messaging.providers.registry import adapter_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/"
WA_ID = "16505550001"
PSID = "24187300000000001"

OURS_BUTTONS = {
    "type": "button",
    "header": {"type": "image", "link": "https://example.com/menu.png"},
    "body": "Confirm your booking?",
    "footer": "Reply within a day",
    "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}],
}
# As Meta's "Interactive reply buttons messages" page shows it.
NATIVE_BUTTONS = {
    "type": "button",
    "header": {"type": "image", "image": {"link": "https://example.com/menu.png"}},
    "body": {"text": "Confirm your booking?"},
    "footer": {"text": "Reply within a day"},
    "action": {
        "buttons": [
            {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
            {"type": "reply", "reply": {"id": "no", "title": "No"}},
        ]
    },
}
SECTIONS = [{"title": "Mains", "rows": [{"id": "soup", "title": "Soup", "description": "Hot"}]}]
OURS_LIST = {"type": "list", "header": {"type": "text", "text": "Menu"}, "body": "Pick one", "button": "Open"}
NATIVE_LIST = {
    "type": "list",
    "header": {"type": "text", "text": "Menu"},
    "body": {"text": "Pick one"},
    "action": {"button": "Open", "sections": SECTIONS},
}
TEMPLATE_COMPONENTS = [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}]


def _channel(tenant: Tenant, platform: str, provider_id: str) -> Channel:
    app = meta_app_register(tenant=tenant, name=f"app {provider_id}", app_secret="s" * 32, actor=CLI_ACTOR).meta_app
    return channel_add(
        tenant=tenant,
        meta_app=app,
        platform=platform,
        provider_id=provider_id,
        access_token="EAAG" + "n" * 40,
        actor=CLI_ACTOR,
    )


def _contact(channel: Channel, external_id: str) -> Contact:
    contact = Contact.objects.create(tenant=channel.tenant, platform=channel.platform, external_id=external_id)
    Conversation.objects.create(
        tenant=channel.tenant,
        channel=channel,
        contact=contact,
        last_inbound_at=timezone.now() - timedelta(hours=1),
    )
    return contact


@pytest.fixture
def sender(tenant_a: Tenant) -> APIClient:
    issued = api_key_issue(tenant=tenant_a, name="sender", scopes=[ApiScope.MESSAGES_SEND])
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


@pytest.fixture
def whatsapp(tenant_a: Tenant) -> Channel:
    channel = _channel(tenant_a, "whatsapp", "1001")
    _contact(channel, WA_ID)
    return channel


@pytest.fixture
def messenger(tenant_a: Tenant) -> Channel:
    channel = _channel(tenant_a, "messenger", "2001")
    _contact(channel, PSID)
    return channel


def _sent(client: APIClient, body: dict[str, Any]) -> Message:
    response = client.post(URL, body, format="json")
    assert response.status_code == 202, response.json()
    return Message.objects.get(pk=response.json()["id"], direction=Direction.OUTBOUND)


def _graph_body(message: Message) -> dict[str, Any]:
    _, body = adapter_for(message.channel.platform).graph_request(
        message.content, recipient=WA_ID, callback_id="callback"
    )
    return body


@pytest.mark.parametrize(
    ("kind", "ours", "native"),
    [
        ("interactive", OURS_BUTTONS, NATIVE_BUTTONS),
        ("interactive", {**OURS_LIST, "sections": SECTIONS}, NATIVE_LIST),
        (
            "template",
            {"name": "booking", "language": "en_US", "components": TEMPLATE_COMPONENTS},
            {
                "name": "booking",
                "language": {"code": "en_US", "policy": "deterministic"},
                "components": TEMPLATE_COMPONENTS,
            },
        ),
        (
            "image",
            {"link": "https://example.com/a.jpg", "caption": "Ours"},
            {"link": "https://example.com/a.jpg", "caption": "Ours"},
        ),
    ],
)
def test_a_whatsapp_send_in_metas_shape_builds_the_same_graph_body_as_ours(sender, whatsapp, kind, ours, native):
    base = {"channel": str(whatsapp.pk), "to": f"+{WA_ID}", "type": kind}

    our_message = _sent(sender, {**base, kind: ours})
    # The whole body as Meta's docs show it, with our channel added.
    native_message = _sent(
        sender,
        {
            "channel": str(whatsapp.pk),
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": WA_ID,
            "type": kind,
            kind: native,
        },
    )

    assert native_message.content == our_message.content
    assert _graph_body(native_message) == _graph_body(our_message)
    assert native_message.contact_id == our_message.contact_id


def test_native_reply_buttons_become_graph_reply_buttons(sender, whatsapp):
    message = _sent(
        sender, {"channel": str(whatsapp.pk), "to": WA_ID, "type": "interactive", "interactive": NATIVE_BUTTONS}
    )

    assert _graph_body(message)["interactive"] == NATIVE_BUTTONS  # what Meta documents is what Graph gets


def test_a_messenger_attachment_in_metas_shape_is_stored_as_ours(sender, messenger):
    base = {"channel": str(messenger.pk), "to": PSID, "type": "attachment"}

    ours = _sent(sender, {**base, "attachment": {"type": "image", "url": "https://example.com/b.png"}})
    native = _sent(
        sender,
        {**base, "attachment": {"type": "image", "payload": {"url": "https://example.com/b.png", "is_reusable": True}}},
    )

    assert native.content == ours.content
    assert _graph_body(native) == _graph_body(ours)


@pytest.mark.parametrize(
    ("interactive", "field"),
    [
        (
            {**NATIVE_BUTTONS, "action": {"buttons": [{"type": "reply", "reply": {"id": "yes"}}]}},
            "interactive.buttons.0.title",
        ),
        ({**NATIVE_BUTTONS, "body": {"txt": "typo"}}, "interactive.body"),
        ({**NATIVE_LIST, "action": {"sections": SECTIONS}}, "interactive"),
    ],
)
def test_a_broken_native_shape_answers_400_naming_the_field(sender, whatsapp, interactive, field):
    response = sender.post(
        URL,
        {"channel": str(whatsapp.pk), "to": WA_ID, "type": "interactive", "interactive": interactive},
        format="json",
    )

    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
