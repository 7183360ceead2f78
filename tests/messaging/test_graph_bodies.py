"""Graph bodies built from normalised content (META-SPEC §6-7), and content the API normalises into them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from messaging.models import Platform
from messaging.providers.meta_messaging.send import graph_request as messaging_request
from messaging.providers.registry import content_normalise
from messaging.providers.sending import SendRequest, SendRule, SendRuleError
from messaging.providers.whatsapp.send import graph_request as whatsapp_request

CALLBACK = "6f1c8a52-3d5e-4b8e-9a57-1f0d7c1e2b3a"
WA_ID = "16505551234"
PSID = "24187312345678901"


def _wa(message_type: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"v": 1, "platform": "whatsapp", "type": message_type, message_type: body, **extra}


def _common(message_type: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": message_type,
        "biz_opaque_callback_data": CALLBACK,
    }


# --- WhatsApp ----------------------------------------------------------------------------------------


def test_whatsapp_text_goes_to_the_plus_number_with_our_id_as_callback_data():
    path, body = whatsapp_request(
        _wa("text", {"body": "Hi", "preview_url": True}), recipient=WA_ID, callback_id=CALLBACK
    )

    assert path == "messages"
    assert body == {**_common("text"), "text": {"preview_url": True, "body": "Hi"}}


def test_whatsapp_recipient_already_with_plus_is_not_doubled_and_a_bsuid_goes_in_recipient():
    _, with_plus = whatsapp_request(_wa("text", {"body": "x"}), recipient="+16505551234", callback_id=CALLBACK)
    _, bsuid = whatsapp_request(_wa("text", {"body": "x"}), recipient="US.13491208655302741918", callback_id=CALLBACK)

    assert with_plus["to"] == "+16505551234"
    assert "to" not in bsuid
    assert bsuid["recipient"] == "US.13491208655302741918"


def test_whatsapp_template_with_components_and_a_deterministic_language():
    components = [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.com/a.png"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Chef"}]},
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "p"}],
        },
    ]
    content = _wa("template", {"name": "revive_issue", "language": "en_US", "components": components})

    _, body = whatsapp_request(content, recipient=WA_ID, callback_id=CALLBACK)

    assert body == {
        **_common("template"),
        "template": {
            "name": "revive_issue",
            "language": {"policy": "deterministic", "code": "en_US"},
            "components": components,
        },
    }


def test_whatsapp_template_without_components_has_no_components_key():
    _, body = whatsapp_request(
        _wa("template", {"name": "hello_world", "language": "en_US", "components": []}),
        recipient=WA_ID,
        callback_id=CALLBACK,
    )

    assert body["template"] == {"name": "hello_world", "language": {"policy": "deterministic", "code": "en_US"}}


def test_whatsapp_media_by_id_and_by_link():
    _, image = whatsapp_request(_wa("image", {"id": "1234", "caption": "Look"}), recipient=WA_ID, callback_id=CALLBACK)
    _, document = whatsapp_request(
        _wa("document", {"link": "https://example.com/x.pdf", "caption": "Invoice", "filename": "x.pdf"}),
        recipient=WA_ID,
        callback_id=CALLBACK,
    )

    assert image == {**_common("image"), "image": {"id": "1234", "caption": "Look"}}
    assert document["document"] == {"link": "https://example.com/x.pdf", "caption": "Invoice", "filename": "x.pdf"}


def test_whatsapp_interactive_buttons_become_reply_buttons():
    content = _wa(
        "interactive",
        {
            "type": "button",
            "header": {"type": "text", "text": "Order 42"},
            "body": "Confirm?",
            "footer": "Reply below",
            "buttons": [{"id": "yes", "title": "YES"}, {"id": "no", "title": "NO"}],
        },
    )

    _, body = whatsapp_request(content, recipient=WA_ID, callback_id=CALLBACK)

    assert body["interactive"] == {
        "type": "button",
        "header": {"type": "text", "text": "Order 42"},
        "body": {"text": "Confirm?"},
        "footer": {"text": "Reply below"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "yes", "title": "YES"}},
                {"type": "reply", "reply": {"id": "no", "title": "NO"}},
            ]
        },
    }


def test_whatsapp_interactive_media_header_and_list():
    button = _wa(
        "interactive",
        {
            "type": "button",
            "header": {"type": "image", "link": "https://example.com/i.png"},
            "body": "b",
            "buttons": [{"id": "0", "title": "OK"}],
        },
    )
    sections = [{"title": "Mains", "rows": [{"id": "0", "title": "Soup", "description": "Hot"}]}]
    listed = _wa("interactive", {"type": "list", "body": "Pick one", "button": "Menu", "sections": sections})

    _, button_body = whatsapp_request(button, recipient=WA_ID, callback_id=CALLBACK)
    _, list_body = whatsapp_request(listed, recipient=WA_ID, callback_id=CALLBACK)

    assert button_body["interactive"]["header"] == {"type": "image", "image": {"link": "https://example.com/i.png"}}
    assert list_body["interactive"] == {
        "type": "list",
        "body": {"text": "Pick one"},
        "action": {"button": "Menu", "sections": sections},
    }


def test_whatsapp_reaction_and_contextual_reply():
    _, reaction = whatsapp_request(
        _wa("reaction", {"message_id": "wamid.IN1", "emoji": "👍"}), recipient=WA_ID, callback_id=CALLBACK
    )
    _, reply = whatsapp_request(
        _wa("text", {"body": "Sure"}, context={"message_id": "wamid.IN1"}), recipient=WA_ID, callback_id=CALLBACK
    )

    assert reaction == {**_common("reaction"), "reaction": {"message_id": "wamid.IN1", "emoji": "👍"}}
    assert reply["context"] == {"message_id": "wamid.IN1"}


def test_whatsapp_mark_read_is_a_status_body_without_recipient():
    path, body = whatsapp_request(_wa("mark_read", {"message_id": "wamid.IN1"}), recipient=WA_ID, callback_id=CALLBACK)

    assert (path, body) == ("messages", {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"})


@pytest.mark.parametrize(
    "content",
    [
        {"v": 2, "platform": "whatsapp", "type": "text", "text": {"body": "x"}},
        {"v": 1, "platform": "messenger", "type": "text", "text": {"body": "x"}},
        {"v": 1, "platform": "whatsapp", "type": "location", "location": {}},
    ],
)
def test_whatsapp_builder_refuses_content_it_does_not_know(content: dict[str, Any]):
    with pytest.raises(ValueError, match=r"content|type"):
        whatsapp_request(content, recipient=WA_ID, callback_id=CALLBACK)


# --- Messenger / Instagram ------------------------------------------------------------------------


def _messaging(message_type: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    base = {"v": 1, "platform": "messenger", "type": message_type, "messaging_type": "RESPONSE", "tag": None}
    return {**base, message_type: body, **extra}


def test_messenger_text_with_quick_replies_carries_our_id_as_metadata():
    replies = [
        {"content_type": "text", "title": "Red", "payload": "RED"},
        {"content_type": "user_email"},
    ]

    path, body = messaging_request(
        _messaging("text", {"body": "Pick", "quick_replies": replies}), recipient=PSID, callback_id=CALLBACK
    )

    assert path == "messages"
    assert body == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Pick", "quick_replies": replies, "metadata": CALLBACK},
    }


def test_messenger_tagged_attachment():
    content = _messaging(
        "attachment",
        {"type": "image", "url": "https://example.com/i.png"},
        messaging_type="MESSAGE_TAG",
        tag="HUMAN_AGENT",
    )

    _, body = messaging_request(content, recipient=PSID, callback_id=CALLBACK)

    assert body == {
        "recipient": {"id": PSID},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {
            "attachment": {"type": "image", "payload": {"url": "https://example.com/i.png", "is_reusable": True}},
            "metadata": CALLBACK,
        },
    }


def test_messaging_builder_refuses_whatsapp_content():
    with pytest.raises(ValueError, match="content"):
        messaging_request(_wa("text", {"body": "x"}), recipient=PSID, callback_id=CALLBACK)


# --- From request to Graph body -------------------------------------------------------------------


def _request(message_type: str, payload: dict[str, Any], **extra: Any) -> SendRequest:
    return SendRequest(channel_id=uuid.uuid4(), to=WA_ID, message_type=message_type, payload=payload, **extra)


def test_a_normalised_whatsapp_request_builds_the_documented_body():
    content = content_normalise(
        platform=Platform.WHATSAPP,
        request=_request(
            "interactive",
            {"type": "list", "body": "Pick", "button": "Menu", "sections": [{"rows": [{"id": "1", "title": "A"}]}]},
        ),
    )

    _, body = whatsapp_request(content, recipient=WA_ID, callback_id=CALLBACK)

    assert content["v"] == 1
    assert body["interactive"]["action"] == {"button": "Menu", "sections": [{"rows": [{"id": "1", "title": "A"}]}]}


def test_a_normalised_instagram_request_defaults_to_response_and_a_tag_implies_message_tag():
    plain = content_normalise(platform=Platform.INSTAGRAM, request=_request("text", {"body": "Hi"}))
    tagged = content_normalise(
        platform=Platform.INSTAGRAM, request=_request("text", {"body": "Hi"}, tag="HUMAN_AGENT", author_kind="human")
    )

    assert (plain["messaging_type"], plain["tag"]) == ("RESPONSE", None)
    assert (tagged["messaging_type"], tagged["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert messaging_request(tagged, recipient=PSID, callback_id=CALLBACK)[1]["tag"] == "HUMAN_AGENT"


def test_normalising_checks_limits_without_a_database():
    with pytest.raises(SendRuleError) as raised:
        content_normalise(platform=Platform.MESSENGER, request=_request("text", {"body": "x" * 2001}))

    assert (raised.value.rule, raised.value.field) == (SendRule.TOO_LONG, "text.body")
