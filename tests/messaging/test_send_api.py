"""The send API (POST /api/v1/messages/) and cancel, through the real HTTP stack, PostgreSQL and the Redis broker.

"Nothing queued" means: no outbound message, no outbox row, no on-commit publish and nothing on the
``outbound`` broker queue.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from encryption.models import DataKey, KeyState, Purpose
from messaging.channels import channel_add, meta_app_register
from messaging.models import (
    Channel,
    ChannelStatus,
    Contact,
    Conversation,
    Direction,
    IdempotencyRecord,
    Message,
    MessageStatus,
    MessageTemplate,
    OutboxEntry,
)
from messaging.providers import registry
from messaging.providers.sending import SendRule
from messaging.task_names import SEND_TASK
from tests.broker import queued_arguments, queued_raw
from tests.problems import problem

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/"
WA_ONE = "16505550001"
PSID = "24187300000000001"
IGSID = "17841400000000001"
SECRET_TEXT = "the-body-must-never-reach-the-broker"


@dataclass
class Thread:
    channel: Channel
    contact: Contact
    conversation: Conversation
    inbound: Message


@dataclass
class World:
    tenant: Tenant
    wa: Thread
    fb: Thread
    ig: Thread
    other_channel: Channel


def _channel(tenant: Tenant, platform: str, provider_id: str) -> Channel:
    app = meta_app_register(tenant=tenant, name=f"app {provider_id}", app_secret="s" * 32, actor=CLI_ACTOR).meta_app
    return channel_add(
        tenant=tenant,
        meta_app=app,
        platform=platform,
        provider_id=provider_id,
        access_token="EAAG" + "t" * 40,
        actor=CLI_ACTOR,
    )


def _thread(channel: Channel, external_id: str, *, wrote_ago: timedelta = timedelta(hours=1)) -> Thread:
    contact = Contact.objects.create(tenant=channel.tenant, platform=channel.platform, external_id=external_id)
    last_inbound_at = timezone.now() - wrote_ago
    conversation = Conversation.objects.create(
        tenant=channel.tenant, channel=channel, contact=contact, last_inbound_at=last_inbound_at
    )
    inbound = Message.objects.create(
        tenant=channel.tenant,
        channel=channel,
        conversation=conversation,
        contact=contact,
        direction=Direction.INBOUND,
        message_type="text",
        status=MessageStatus.RECEIVED,
        received_at=last_inbound_at,
        provider_timestamp=last_inbound_at,
        provider_message_id=f"wamid.IN-{external_id}",
        content={"text": {"body": "hello"}},
    )
    return Thread(channel, contact, conversation, inbound)


@pytest.fixture
def world(tenant_a: Tenant, tenant_b: Tenant) -> World:
    return World(
        tenant=tenant_a,
        wa=_thread(_channel(tenant_a, "whatsapp", "1001"), WA_ONE),
        fb=_thread(_channel(tenant_a, "messenger", "2001"), PSID),
        ig=_thread(_channel(tenant_a, "instagram", "3001"), IGSID),
        other_channel=_channel(tenant_b, "whatsapp", "9001"),
    )


def _client(tenant: Tenant, *scopes: str) -> APIClient:
    issued = api_key_issue(tenant=tenant, name="sender", scopes=list(scopes))
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


@pytest.fixture
def sender(world: World) -> APIClient:
    return _client(world.tenant, ApiScope.MESSAGES_SEND, ApiScope.MESSAGES_READ)


@pytest.fixture
def post(sender: APIClient, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """POST a send, running its on-commit callbacks (the publish) as a real commit would."""

    def send(body: dict[str, Any], *, key: str | None = None, client: APIClient | None = None) -> Any:
        headers: dict[str, Any] = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = (client or sender).post(URL, body, format="json", **headers)
        published = sum(_is_publish(callback) for callback in callbacks)
        response.published_callbacks = published  # type: ignore[attr-defined]
        return response

    return send


def _is_publish(callback: Callable[[], None]) -> bool:
    """A publish registered by core.tasks (other on-commit callbacks cache encryption keys)."""
    return getattr(callback, "__qualname__", "").startswith("enqueue_by_name_on_commit.")


def _published() -> list[list[Any]]:
    """The argument lists of the tasks on the ``outbound`` broker queue (Redis or the embedded broker)."""
    return queued_arguments("outbound", SEND_TASK)


def _outbound() -> list[Message]:
    return list(Message.objects.filter(direction=Direction.OUTBOUND))


@dataclass(frozen=True)
class Before:
    outbound: frozenset[uuid.UUID]
    contacts: int


def _before() -> Before:
    return Before(frozenset(message.pk for message in _outbound()), Contact.objects.count())


def _assert_nothing_queued(response: Any, before: Before) -> None:
    assert {message.pk for message in _outbound()} == before.outbound
    assert not OutboxEntry.objects.exists()
    assert response.published_callbacks == 0
    assert _published() == []
    assert Contact.objects.count() == before.contacts  # a refused send to a new number leaves no contact
    assert not IdempotencyRecord.objects.exists()


def _wa_text(world: World, body: str = "Hi", **extra: Any) -> dict[str, Any]:
    return {"channel": str(world.wa.channel.pk), "to": "+" + WA_ONE, "type": "text", "text": {"body": body}, **extra}


def _fb_text(thread: Thread, body: str = "Hi", **extra: Any) -> dict[str, Any]:
    return {
        "channel": str(thread.channel.pk),
        "contact_id": str(thread.contact.pk),
        "type": "text",
        "text": {"body": body},
        **extra,
    }


# --- Queued ------------------------------------------------------------------------------------------


def test_a_text_is_queued_with_its_outbox_row_and_published_on_commit_with_the_id_only(post, world: World):
    before = timezone.now()

    response = post(_wa_text(world, SECRET_TEXT, author="human"))

    assert response.status_code == 202, response.json()
    [message] = _outbound()
    assert response.json() == {
        "id": str(message.pk),
        "status": "queued",
        "type": "text",
        "channel": str(world.wa.channel.pk),
        "contact": str(world.wa.contact.pk),
        "conversation": str(world.wa.conversation.pk),
        "author": "human",
        "send_at": None,
        "created_at": message.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert (message.status, message.message_type, message.author_kind) == ("queued", "text", "human")
    assert message.provider_message_id is None
    assert message.content == {
        "v": 1,
        "platform": "whatsapp",
        "type": "text",
        "text": {"body": SECRET_TEXT, "preview_url": False},
    }
    outbox = OutboxEntry.objects.get(message=message)
    assert before <= outbox.available_at <= timezone.now()
    assert outbox.published_at is not None
    assert _published() == [[str(message.pk)]]
    assert all(SECRET_TEXT.encode() not in raw for raw in queued_raw("outbound"))


def test_a_send_to_a_new_number_creates_one_contact_whatever_the_number_format(post, world: World):
    template = {"name": "hello_world", "language": "en_US"}
    first = post(
        {"channel": str(world.wa.channel.pk), "to": "+1 (650) 555-9999", "type": "template", "template": template}
    )
    second = post(
        {"channel": str(world.wa.channel.pk), "to": "0016505559999", "type": "template", "template": template}
    )

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["contact"] == second.json()["contact"]
    assert first.json()["conversation"] == second.json()["conversation"]
    contact = Contact.objects.get(pk=first.json()["contact"])
    assert (contact.platform, contact.external_id) == ("whatsapp", "16505559999")


WHATSAPP_KINDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "template": (
        {"name": "order_update", "language": "en_US", "components": [{"type": "body", "parameters": []}]},
        {"name": "order_update", "language": "en_US", "components": [{"type": "body", "parameters": []}]},
    ),
    "image": (
        {"link": "https://example.com/a.png", "caption": "A"},
        {"link": "https://example.com/a.png", "caption": "A"},
    ),
    "video": ({"id": "778"}, {"id": "778"}),
    "audio": ({"id": "779"}, {"id": "779"}),
    "document": (
        {"id": "780", "caption": "Invoice", "filename": "invoice.pdf"},
        {"id": "780", "caption": "Invoice", "filename": "invoice.pdf"},
    ),
    "sticker": ({"link": "https://example.com/s.webp"}, {"link": "https://example.com/s.webp"}),
    "interactive": (
        {"type": "button", "body": "Confirm?", "buttons": [{"id": "y", "title": "Yes"}, {"id": "n", "title": "No"}]},
        {"type": "button", "body": "Confirm?", "buttons": [{"id": "y", "title": "Yes"}, {"id": "n", "title": "No"}]},
    ),
}


@pytest.mark.parametrize("kind", sorted(WHATSAPP_KINDS))
def test_each_whatsapp_kind_is_queued_normalised(post, world: World, kind: str):
    given, stored = WHATSAPP_KINDS[kind]

    response = post(
        {"channel": str(world.wa.channel.pk), "contact_id": str(world.wa.contact.pk), "type": kind, kind: given}
    )

    assert response.status_code == 202, response.json()
    [message] = _outbound()
    assert (message.message_type, message.content[kind]) == (kind, stored)


def test_an_interactive_list_is_queued(post, world: World):
    interactive = {
        "type": "list",
        "header": {"type": "text", "text": "Menu"},
        "body": "Pick one",
        "footer": "Thanks",
        "button": "Open",
        "sections": [{"title": "Mains", "rows": [{"id": "1", "title": "Soup", "description": "Hot"}]}],
    }

    response = post(_wa_with(world, "interactive", interactive))

    assert response.status_code == 202, response.json()
    assert _outbound()[0].content["interactive"] == interactive


def test_reaction_mark_read_and_reply_name_gateway_ids_and_store_metas_ids(post, world: World):
    inbound = world.wa.inbound
    base = {"channel": str(world.wa.channel.pk), "contact_id": str(world.wa.contact.pk)}

    reaction = post({**base, "type": "reaction", "reaction": {"message_id": str(inbound.pk), "emoji": "👍"}})
    read = post({**base, "type": "mark_read", "mark_read": {"message_id": str(inbound.pk)}})
    reply = post({**base, "type": "text", "text": {"body": "Sure"}, "context": {"message_id": str(inbound.pk)}})

    assert [reaction.status_code, read.status_code, reply.status_code] == [202, 202, 202]
    by_type = {message.message_type: message.content for message in _outbound()}
    assert by_type["reaction"]["reaction"] == {"message_id": f"wamid.IN-{WA_ONE}", "emoji": "👍"}
    assert by_type["mark_read"]["mark_read"] == {"message_id": f"wamid.IN-{WA_ONE}"}
    assert by_type["text"]["context"] == {"message_id": f"wamid.IN-{WA_ONE}"}


def test_messenger_and_instagram_sends_with_quick_replies_attachments_and_tags(post, world: World):
    world.fb.conversation.last_inbound_at = timezone.now() - timedelta(days=3)
    world.fb.conversation.save()
    replies = [{"title": "Red", "payload": "RED"}, {"content_type": "user_email"}]

    inside = post(_fb_text(world.ig, "Hi", text={"body": "Pick", "quick_replies": replies}))
    attachment = post(
        {
            "channel": str(world.ig.channel.pk),
            "to": IGSID,
            "type": "attachment",
            "attachment": {"type": "image", "url": "https://example.com/i.png"},
            "messaging_type": "UPDATE",
        }
    )
    human = post(_fb_text(world.fb, "Sorry for the wait", tag="HUMAN_AGENT", author="human"))
    account = post(_fb_text(world.fb, "Your order shipped", messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE"))

    assert [r.status_code for r in (inside, attachment, human, account)] == [202, 202, 202, 202]
    contents = [Message.objects.get(pk=r.json()["id"]).content for r in (inside, attachment, human, account)]
    assert contents[0]["text"] == {
        "body": "Pick",
        "quick_replies": [{"content_type": "text", "title": "Red", "payload": "RED"}, {"content_type": "user_email"}],
    }
    assert (contents[0]["messaging_type"], contents[0]["tag"]) == ("RESPONSE", None)
    assert contents[1] == {
        "v": 1,
        "platform": "instagram",
        "type": "attachment",
        "messaging_type": "UPDATE",
        "tag": None,
        "attachment": {"type": "image", "url": "https://example.com/i.png"},
    }
    assert [(c["messaging_type"], c["tag"]) for c in contents[2:]] == [
        ("MESSAGE_TAG", "HUMAN_AGENT"),
        ("MESSAGE_TAG", "ACCOUNT_UPDATE"),
    ]


def test_a_scheduled_send_stays_queued_unpublished_with_its_outbox_row_due_then(post, world: World):
    send_at = timezone.now() + timedelta(hours=2)

    response = post(_wa_text(world, send_at=send_at.isoformat()))

    assert response.status_code == 202, response.json()
    assert response.json()["send_at"] == send_at.isoformat().replace("+00:00", "Z")
    [message] = _outbound()
    outbox = OutboxEntry.objects.get(message=message)
    assert (message.status, message.send_at, message.next_attempt_at) == ("queued", send_at, send_at)
    assert (outbox.available_at, outbox.published_at) == (send_at, None)
    assert response.published_callbacks == 0
    assert _published() == []


# --- Rules: 422 with a code, nothing queued -----------------------------------------------------------


def _pause(world: World) -> dict[str, Any]:
    Channel.objects.filter(pk=world.wa.channel.pk).update(status=ChannelStatus.PAUSED, paused_reason="190")
    return _wa_text(world)


def _opt_out(world: World) -> dict[str, Any]:
    Contact.objects.filter(pk=world.wa.contact.pk).update(is_opted_out=True)
    return _wa_text(world)


def _erase(world: World) -> dict[str, Any]:
    DataKey.objects.filter(purpose=Purpose.SUBJECT, scope=str(world.wa.contact.pk)).update(
        state=KeyState.DESTROYED, wrapped_key=None
    )
    return {**_wa_text(world), "to": None} | {"contact_id": str(world.wa.contact.pk)}


def _close_wa(world: World, *, hours: float = 25) -> None:
    Conversation.objects.filter(pk=world.wa.conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=hours)
    )


def _wa_window_closed(world: World) -> dict[str, Any]:
    _close_wa(world)
    return _wa_text(world)


def _wa_window_closing_before_send_at(world: World) -> dict[str, Any]:
    _close_wa(world, hours=23)
    return _wa_text(world, send_at=(timezone.now() + timedelta(hours=2)).isoformat())


def _wa_reaction_window_closed(world: World) -> dict[str, Any]:
    _close_wa(world)
    return {
        "channel": str(world.wa.channel.pk),
        "contact_id": str(world.wa.contact.pk),
        "type": "reaction",
        "reaction": {"message_id": str(world.wa.inbound.pk), "emoji": "👍"},
    }


def _close_fb(world: World, *, days: float) -> None:
    Conversation.objects.filter(pk=world.fb.conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(days=days)
    )


def _fb_window_closed(world: World) -> dict[str, Any]:
    _close_fb(world, days=2)
    return _fb_text(world.fb, messaging_type="UPDATE")


def _human_agent_too_late(world: World) -> dict[str, Any]:
    _close_fb(world, days=8)
    return _fb_text(world.fb, tag="HUMAN_AGENT", author="human")


def _outbound_message(thread: Thread, *, provider_id: str | None) -> Message:
    now = timezone.now()
    return Message.objects.create(
        tenant=thread.channel.tenant,
        channel=thread.channel,
        conversation=thread.conversation,
        contact=thread.contact,
        direction=Direction.OUTBOUND,
        message_type="text",
        status=MessageStatus.QUEUED if provider_id is None else MessageStatus.DELIVERED,
        received_at=now,
        provider_timestamp=now,
        provider_message_id=provider_id,
        content={"text": {"body": "ours"}},
    )


WABA_ID = "102290129340398"
GREETING = [{"type": "BODY", "text": "Hello {{1}}"}]


def _wa_template(
    world: World,
    status: str | None,
    components: list[dict[str, Any]] = GREETING,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A template send on the WhatsApp channel, put on an account whose ``greeting`` template has ``status``
    (None: the account has no such template)."""
    Channel.objects.filter(pk=world.wa.channel.pk).update(waba_id=WABA_ID)
    if status is not None:
        MessageTemplate.objects.create(
            tenant=world.tenant, waba_id=WABA_ID, name="greeting", language="en", status=status, components=components
        )
    given = [{"type": "text", "text": "Ana"}] if parameters is None else parameters
    template = {"name": "greeting", "language": "en", "components": [{"type": "body", "parameters": given}]}
    return _wa_with(world, "template", template)


def _wa_with(world: World, message_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "channel": str(world.wa.channel.pk),
        "contact_id": str(world.wa.contact.pk),
        "type": message_type,
        message_type: payload,
    }


def _interactive(**overrides: Any) -> dict[str, Any]:
    return {"type": "button", "body": "Pick", "buttons": [{"id": "1", "title": "One"}], **overrides}


def _listed(rows: int, **row: Any) -> dict[str, Any]:
    return {
        "type": "list",
        "body": "Pick",
        "button": "Menu",
        "sections": [{"rows": [{"id": str(index), "title": "Row", **row} for index in range(rows)]}],
    }


def _reply_to_queued(world: World) -> dict[str, Any]:
    queued = _outbound_message(world.wa, provider_id=None)
    return _wa_text(world, context={"message_id": str(queued.pk)})


def _react_to_queued(world: World) -> dict[str, Any]:
    queued = _outbound_message(world.wa, provider_id=None)
    return _wa_with(world, "reaction", {"message_id": str(queued.pk), "emoji": "👍"})


def _mark_read_ours(world: World) -> dict[str, Any]:
    ours = _outbound_message(world.wa, provider_id="wamid.OURS")
    return _wa_with(world, "mark_read", {"message_id": str(ours.pk)})


CASES: dict[str, tuple[str, Callable[[World], dict[str, Any]]]] = {
    "paused channel": ("channel_paused", _pause),
    "opted-out contact": ("contact_opted_out", _opt_out),
    "erased contact": ("contact_erased", _erase),
    "contact of another platform": (
        "contact_platform_mismatch",
        lambda w: {**_wa_text(w), "to": None} | {"contact_id": str(w.fb.contact.pk)},
    ),
    "not a phone number": ("recipient_invalid", lambda w: _wa_text(w) | {"to": "12-ab"}),
    "a local phone number": ("recipient_invalid", lambda w: _wa_text(w) | {"to": "0612345678"}),
    "not a PSID": ("recipient_invalid", lambda w: {**_fb_text(w.fb), "contact_id": None} | {"to": "+1 650"}),
    "attachment on WhatsApp": (
        "not_supported",
        lambda w: (
            {**_wa_text(w), "type": "attachment", "text": None}
            | {"attachment": {"type": "file", "url": "https://e.x/f"}}
        ),
    ),
    "template on Messenger": (
        "not_supported",
        lambda w: {**_fb_text(w.fb), "type": "template", "text": None} | {"template": {"name": "t", "language": "en"}},
    ),
    "messaging_type on WhatsApp": ("not_supported", lambda w: _wa_text(w, messaging_type="UPDATE")),
    "quick replies on WhatsApp": (
        "not_supported",
        lambda w: _wa_text(w) | {"text": {"body": "x", "quick_replies": [{"title": "a", "payload": "b"}]}},
    ),
    "caption on audio": ("not_supported", lambda w: _wa_with(w, "audio", {"id": "1", "caption": "no"})),
    "filename on an image": ("not_supported", lambda w: _wa_with(w, "image", {"id": "1", "filename": "a.png"})),
    "context on Messenger": ("not_supported", lambda w: _fb_text(w.fb, context={"message_id": str(w.fb.inbound.pk)})),
    "media header on a list": (
        "not_supported",
        lambda w: _wa_with(w, "interactive", _listed(1) | {"header": {"type": "image", "id": "5"}}),
    ),
    "WhatsApp window closed": ("whatsapp_window_closed", _wa_window_closed),
    "WhatsApp window closed by send_at": ("whatsapp_window_closed", _wa_window_closing_before_send_at),
    "WhatsApp reaction outside the window": ("whatsapp_window_closed", _wa_reaction_window_closed),
    "WhatsApp number that never wrote": ("whatsapp_window_closed", lambda w: _wa_text(w) | {"to": "+16505559999"}),
    "Messenger UPDATE outside 24 h": ("messaging_window_closed", _fb_window_closed),
    "Messenger user who never wrote": (
        "messaging_window_closed",
        lambda w: {**_fb_text(w.fb), "contact_id": None} | {"to": "999"},
    ),
    "MESSAGE_TAG without a tag": ("tag_required", lambda w: _fb_text(w.fb, messaging_type="MESSAGE_TAG")),
    "tag with RESPONSE": ("tag_not_allowed", lambda w: _fb_text(w.fb, messaging_type="RESPONSE", tag="ACCOUNT_UPDATE")),
    "non-HUMAN_AGENT tag on Instagram": ("tag_not_allowed", lambda w: _fb_text(w.ig, tag="ACCOUNT_UPDATE")),
    "HUMAN_AGENT by the system": ("human_agent_not_human", lambda w: _fb_text(w.fb, tag="HUMAN_AGENT")),
    "HUMAN_AGENT after 7 days": ("human_agent_window_closed", _human_agent_too_late),
    "WhatsApp text over 4096": ("too_long", lambda w: _wa_text(w, "x" * 4097)),
    "caption over 1024": ("too_long", lambda w: _wa_with(w, "image", {"id": "1", "caption": "x" * 1025})),
    "interactive body over 1024": ("too_long", lambda w: _wa_with(w, "interactive", _interactive(body="x" * 1025))),
    "header text over 60": (
        "too_long",
        lambda w: _wa_with(w, "interactive", _interactive(header={"type": "text", "text": "x" * 61})),
    ),
    "footer over 60": ("too_long", lambda w: _wa_with(w, "interactive", _interactive(footer="x" * 61))),
    "button title over 20": (
        "too_long",
        lambda w: _wa_with(w, "interactive", _interactive(buttons=[{"id": "1", "title": "x" * 21}])),
    ),
    "row title over 24": ("too_long", lambda w: _wa_with(w, "interactive", _listed(1, title="x" * 25))),
    "row description over 72": ("too_long", lambda w: _wa_with(w, "interactive", _listed(1, description="x" * 73))),
    "list button over 20": ("too_long", lambda w: _wa_with(w, "interactive", _listed(1) | {"button": "x" * 21})),
    "template name over 512": ("too_long", lambda w: _wa_with(w, "template", {"name": "x" * 513, "language": "en"})),
    "Messenger text over 2000": ("too_long", lambda w: _fb_text(w.fb, "x" * 2001)),
    "Instagram text over 1000": ("too_long", lambda w: _fb_text(w.ig, "x" * 1001)),
    "quick reply title over 20": (
        "too_long",
        lambda w: _fb_text(w.fb) | {"text": {"body": "x", "quick_replies": [{"title": "x" * 21, "payload": "p"}]}},
    ),
    "four buttons": (
        "too_many",
        lambda w: _wa_with(w, "interactive", _interactive(buttons=[{"id": str(i), "title": "b"} for i in range(4)])),
    ),
    "eleven list rows": ("too_many", lambda w: _wa_with(w, "interactive", _listed(11))),
    "fourteen quick replies": (
        "too_many",
        lambda w: _fb_text(w.fb) | {"text": {"body": "x", "quick_replies": [{"title": "t", "payload": "p"}] * 14}},
    ),
    "http media link": ("link_not_https", lambda w: _wa_with(w, "image", {"link": "http://example.com/a.png"})),
    "http attachment url": (
        "link_not_https",
        lambda w: (
            {**_fb_text(w.fb), "type": "attachment", "text": None}
            | {"attachment": {"type": "file", "url": "ftp://e.x/f"}}
        ),
    ),
    "reaction to an unknown message": (
        "target_message_not_found",
        lambda w: _wa_with(w, "reaction", {"message_id": str(uuid.uuid4()), "emoji": "👍"}),
    ),
    "reaction to another conversation's message": (
        "target_message_not_found",
        lambda w: _wa_with(w, "reaction", {"message_id": str(w.fb.inbound.pk), "emoji": "👍"}),
    ),
    "reply to a message without a Meta id": ("target_message_not_sent", _reply_to_queued),
    "reaction to a message without a Meta id": ("target_message_not_sent", _react_to_queued),
    "mark_read of an unknown message": (
        "target_message_not_found",
        lambda w: _wa_with(w, "mark_read", {"message_id": str(uuid.uuid4())}),
    ),
    "mark_read of our own message": ("target_message_not_inbound", _mark_read_ours),
    "template unknown on the account": ("template_not_found", lambda w: _wa_template(w, None)),
    "template pending": ("template_not_approved", lambda w: _wa_template(w, "PENDING")),
    "template paused": ("template_paused", lambda w: _wa_template(w, "PAUSED")),
    "template disabled": ("template_disabled", lambda w: _wa_template(w, "DISABLED")),
    "template parameter missing": ("template_parameter_mismatch", lambda w: _wa_template(w, "APPROVED", parameters=[])),
    "template parameter of another type": (
        "template_parameter_type",
        lambda w: _wa_template(w, "APPROVED", parameters=[{"type": "payload", "payload": "x"}]),
    ),
    "template media header missing": (
        "template_header_media_required",
        lambda w: _wa_template(w, "APPROVED", [{"type": "HEADER", "format": "VIDEO"}, *GREETING]),
    ),
    "send_at in the past": (
        "send_at_out_of_range",
        lambda w: _wa_text(w, send_at=(timezone.now() - timedelta(minutes=1)).isoformat()),
    ),
    "send_at beyond 30 days": (
        "send_at_out_of_range",
        lambda w: _wa_text(w, send_at=(timezone.now() + timedelta(days=31)).isoformat()),
    ),
}


def _without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_each_rule_answers_422_with_its_code_and_queues_nothing(post, world: World, case: str):
    rule, make = CASES[case]
    body = _without_nulls(make(world))
    before = _before()

    response = post(body, key=f"key-{case}")

    assert response.status_code == 422, response.json()
    assert response.json()["code"] == "validation_failed"
    assert response.json()["rule"] == rule
    assert response.json()["detail"]
    _assert_nothing_queued(response, before)


def test_every_rule_code_has_a_case():
    assert {rule for rule, _ in CASES.values()} == set(SendRule.values)


def test_an_opted_out_contact_can_still_have_its_message_marked_read_and_templates_need_no_window(post, world: World):
    Contact.objects.filter(pk=world.wa.contact.pk).update(is_opted_out=True)
    _close_wa(world)

    read = post(_wa_with(world, "mark_read", {"message_id": str(world.wa.inbound.pk)}))
    Contact.objects.filter(pk=world.wa.contact.pk).update(is_opted_out=False)
    template = post(_wa_with(world, "template", {"name": "reminder", "language": "en_US"}))

    assert (read.status_code, template.status_code) == (202, 202)


# --- Shapes, tenants, scopes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contact_id": "00000000-0000-0000-0000-000000000001"}, None),  # to and contact_id: the whole body
        ({"to": None}, None),  # neither
        ({"type": "location"}, "type"),
        ({"text": None}, "text"),
        ({"image": {"id": "1"}}, "image"),
        ({"author": "robot"}, "author"),
        ({"tag": "PROMOTION"}, "tag"),
        ({"text": {"body": ""}}, "text"),
        ({"channel": "not-a-uuid"}, "channel"),
    ],
)
def test_shape_errors_answer_400_with_field_errors_and_queue_nothing(
    post, world: World, change: dict[str, Any], field: str | None
):
    body = _without_nulls(_wa_text(world) | change)
    before = _before()

    response = post(body)

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid_request"
    assert field in {error["field"] and error["field"].split(".")[0] for error in response.json()["errors"]}
    _assert_nothing_queued(response, before)


def test_a_body_that_is_not_an_object_is_a_400(post, world: World):
    assert post([1, 2]).status_code == 400
    assert _outbound() == []


DEPTH = 100_000


@pytest.mark.parametrize(
    "raw",
    [
        "[" * DEPTH + "]" * DEPTH,
        '{"a":' * DEPTH + "1" + "}" * DEPTH,
        # Within the decoder's own limit, but deeper than any request needs (and than later code may recurse).
        '{"channel": "x", "template": {"components": [' + "[" * 500 + "]" * 500 + "]}}",
    ],
    ids=["arrays", "objects", "inside-a-field"],
)
def test_deeply_nested_json_is_a_400_in_the_usual_shape_and_queues_nothing(
    sender: APIClient, world: World, raw: str, django_capture_on_commit_callbacks: Any
):
    before = _before()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = sender.post(URL, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep-1")
    response.published_callbacks = sum(_is_publish(callback) for callback in callbacks)  # type: ignore[attr-defined]

    assert response.status_code == 400
    assert response.json() == problem(
        400, "invalid_request", "JSON parse error - nested deeper than 64 levels", errors=[]
    )
    _assert_nothing_queued(response, before)


def test_another_tenants_channel_or_contact_is_404_and_queues_nothing(post, world: World, tenant_b: Tenant):
    other_contact = Contact.objects.create(tenant=tenant_b, platform="whatsapp", external_id=WA_ONE)
    before = _before()

    through_channel = post(_wa_text(world) | {"channel": str(world.other_channel.pk)})
    to_contact = post(_without_nulls(_wa_text(world) | {"to": None, "contact_id": str(other_contact.pk)}))
    unknown = post(_wa_text(world) | {"channel": str(uuid.uuid4())})

    for response in (through_channel, to_contact, unknown):
        assert response.status_code == 404
        _assert_nothing_queued(response, before)


def test_sending_needs_the_send_scope_and_listing_still_needs_read(world: World, post):
    reader = _client(world.tenant, ApiScope.MESSAGES_READ)
    sender_only = _client(world.tenant, ApiScope.MESSAGES_SEND)

    refused = post(_wa_text(world), client=reader)

    assert refused.status_code == 403
    assert "messages:send" in refused.json()["detail"]
    assert sender_only.get(URL).status_code == 403
    assert "messages:read" in sender_only.get(URL).json()["detail"]
    assert reader.get(URL).status_code == 200
    assert post(_wa_text(world), client=sender_only).status_code == 202
    assert APIClient().post(URL, _wa_text(world), format="json").status_code == 401


# --- Idempotency -------------------------------------------------------------------------------------


def test_the_same_key_and_body_replays_the_first_answer_without_a_second_message(post, world: World):
    body = _wa_text(world)
    first = post(body, key="order-42")
    reordered = dict(reversed(list(body.items())))

    again = post(reordered, key="order-42")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(_outbound()) == 1
    assert again.published_callbacks == 0
    assert len(_published()) == 1


def test_the_same_key_with_another_body_is_a_409(post, world: World):
    post(_wa_text(world, "first"), key="order-43")

    conflict = post(_wa_text(world, "second"), key="order-43")

    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency_key_reused"
    assert len(_outbound()) == 1


def test_a_refused_request_is_not_recorded_so_the_key_is_evaluated_again(post, world: World):
    _close_wa(world)
    refused = post(_wa_text(world), key="order-44")
    Conversation.objects.filter(pk=world.wa.conversation.pk).update(last_inbound_at=timezone.now())

    accepted = post(_wa_text(world), key="order-44")

    assert (refused.status_code, accepted.status_code) == (422, 202)
    assert len(_outbound()) == 1


def test_keys_are_per_tenant_and_bounded(post, world: World, tenant_b: Tenant):
    other = _client(tenant_b, ApiScope.MESSAGES_SEND)
    other_body = {
        "channel": str(world.other_channel.pk),
        "to": "+" + WA_ONE,
        "type": "template",
        "template": {"name": "hi", "language": "en"},
    }

    mine = post(_wa_text(world), key="shared-key")
    theirs = post(other_body, key="shared-key", client=other)
    too_long = post(_wa_text(world), key="k" * 256)

    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert mine.json()["id"] != theirs.json()["id"]
    assert too_long.status_code == 400
    assert post(_wa_text(world), key="k" * 255).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_with_one_key_make_one_message(world: World, monkeypatch: pytest.MonkeyPatch):
    """Both requests pass the replay check before either commits (a barrier holds them there); the key's
    unique constraint makes the second wait for the first, fail, and replay its answer."""
    client_a, client_b = (_client(world.tenant, ApiScope.MESSAGES_SEND) for _ in range(2))
    barrier = threading.Barrier(2, timeout=30)
    real_normalise = registry.content_normalise

    def normalise_after_both_checked(**kwargs: Any) -> dict[str, Any]:
        barrier.wait()
        return real_normalise(**kwargs)

    monkeypatch.setattr(registry, "content_normalise", normalise_after_both_checked)
    responses: dict[int, Any] = {}

    def send(index: int, client: APIClient) -> None:
        try:
            responses[index] = client.post(URL, _wa_text(world), format="json", HTTP_IDEMPOTENCY_KEY="race")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i, c)) for i, c in enumerate((client_a, client_b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(response.status_code for response in responses.values()) == [202, 202]
    assert responses[0].json() == responses[1].json()
    assert sorted(response.headers.get("Idempotent-Replayed", "") for response in responses.values()) == ["", "true"]
    assert len(_outbound()) == 1
    assert OutboxEntry.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert _published() == [[responses[0].json()["id"]]]


# --- Cancel ------------------------------------------------------------------------------------------


def _cancel(client: APIClient, message_id: object) -> Any:
    return client.post(f"{URL}{message_id}/cancel/")


def test_cancel_turns_a_queued_message_cancelled_and_drops_its_outbox_row(post, sender, world: World):
    queued = post(_wa_text(world)).json()["id"]
    scheduled = post(_wa_text(world, send_at=(timezone.now() + timedelta(hours=1)).isoformat())).json()["id"]

    for message_id in (queued, scheduled):
        response = _cancel(sender, message_id)
        assert response.status_code == 200
        assert (response.json()["id"], response.json()["status"]) == (message_id, "cancelled")
        assert Message.objects.get(pk=message_id).status == MessageStatus.CANCELLED
    assert not OutboxEntry.objects.exists()


def test_cancel_of_a_message_no_longer_queued_is_a_409(post, sender, world: World):
    message_id = post(_wa_text(world)).json()["id"]
    Message.objects.filter(pk=message_id).update(status=MessageStatus.SENDING)

    response = _cancel(sender, message_id)

    assert response.status_code == 409
    assert (response.json()["code"], response.json()["message_status"]) == ("not_cancellable", "sending")
    assert Message.objects.get(pk=message_id).status == MessageStatus.SENDING
    assert OutboxEntry.objects.filter(message_id=message_id).exists()
    assert _cancel(sender, world.wa.inbound.pk).status_code == 409


def test_cancel_twice_is_a_409_the_second_time(post, sender, world: World):
    message_id = post(_wa_text(world)).json()["id"]

    assert _cancel(sender, message_id).status_code == 200
    assert _cancel(sender, message_id).json()["message_status"] == "cancelled"
    assert _cancel(sender, message_id).status_code == 409


def test_cancel_of_another_tenants_or_an_unknown_message_is_a_404(post, world: World, tenant_b: Tenant):
    message_id = post(_wa_text(world)).json()["id"]
    other = _client(tenant_b, ApiScope.MESSAGES_SEND)
    reader = _client(world.tenant, ApiScope.MESSAGES_READ)

    assert _cancel(other, message_id).status_code == 404
    assert _cancel(other, uuid.uuid4()).status_code == 404
    assert _cancel(reader, message_id).status_code == 403
    assert Message.objects.get(pk=message_id).status == MessageStatus.QUEUED


# --- Schema ------------------------------------------------------------------------------------------


def test_the_schema_documents_send_and_cancel(db: None):
    schema = APIClient().get("/api/v1/schema/").json()

    send = schema["paths"]["/api/v1/messages/"]["post"]
    cancel = schema["paths"]["/api/v1/messages/{message_id}/cancel/"]["post"]
    assert schema["paths"]["/api/v1/messages/"]["get"]["operationId"] == "messages_list"
    assert (send["operationId"], cancel["operationId"]) == ("messages_send", "messages_cancel")
    documented = ["202", "400", "401", "403", "404", "409", "413", "414", "415", "422", "429", "503"]
    assert sorted(send["responses"]) == documented
    assert sorted(cancel["responses"]) == ["200", "401", "403", "404", "409", "414", "429", "503"]
    assert {parameter["name"] for parameter in send["parameters"]} == {"Idempotency-Key"}
    assert all(f"`{rule}`" in send["description"] for rule in SendRule.values)
    rule_schema = schema["components"]["schemas"]["SendRuleError"]["properties"]["rule"]
    rule_enum = schema["components"]["schemas"][rule_schema["$ref"].rsplit("/", 1)[1]]["enum"]
    assert sorted(rule_enum) == sorted(SendRule.values)
    request = schema["components"]["schemas"]["SendRequest"]["properties"]
    assert {"channel", "to", "contact_id", "type", "text", "template", "interactive", "send_at", "tag"} <= set(request)
