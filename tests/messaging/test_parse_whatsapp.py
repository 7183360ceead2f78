"""The WhatsApp parsing layer, checked against the captured fixtures (tests/fixtures/meta) and fuzzed.

Expected values come from the fixture JSON; derived values (datetimes, decimals) are written out by hand.
"""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from decimal import Decimal
from functools import reduce
from operator import getitem
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging.providers.delivery import DeliveryItem, ParsedDelivery
from messaging.providers.items import GraphError, ParseProblem, UnknownItem
from messaging.providers.registry import parse_webhook
from messaging.providers.whatsapp.accounts import AccountUpdate
from messaging.providers.whatsapp.types.cards import ContactName, ContactPhone
from messaging.providers.whatsapp.types.coexistence import (
    AddressBookEntry,
    HistoryMessage,
    HistoryProgress,
    MessageEcho,
)
from messaging.providers.whatsapp.types.contents import (
    ButtonReplyContent,
    ContactsContent,
    EditContent,
    FlowReplyContent,
    ListReplyContent,
    LocationContent,
    MediaContent,
    OrderContent,
    OrderItem,
    ReactionContent,
    RevokeContent,
    SystemContent,
    TemplateButtonContent,
    TextContent,
    UnknownContent,
    UnsupportedContent,
)
from messaging.providers.whatsapp.types.items import ValueErrorItem
from messaging.providers.whatsapp.types.messages import AdReferral, InboundMessage, MessageContext, ReferredProduct
from messaging.providers.whatsapp.types.statuses import Conversation, Pricing, StatusUpdate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "meta"
WHATSAPP_FIXTURES = sorted(path.name for path in FIXTURES.glob("whatsapp_*.json"))
ALL_FIXTURES = sorted(path.name for path in FIXTURES.glob("*.json"))
ITEM_TYPES = typing.get_args(DeliveryItem)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(fixture_bytes(name))
    return document


def value_of(document: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = document["entry"][0]["changes"][0]["value"]
    return value


def parse_json(document: Any) -> ParsedDelivery:
    return parse_webhook(json.dumps(document).encode())


def only_item(name: str) -> DeliveryItem:
    delivery = parse_webhook(fixture_bytes(name))
    assert delivery.problems == ()
    assert len(delivery.items) == 1
    return delivery.items[0]


def only_message(name: str) -> tuple[InboundMessage, dict[str, Any]]:
    """The parsed message and the fixture's raw ``messages[0]`` to compare it with."""
    item = only_item(name)
    assert isinstance(item, InboundMessage)
    return item, value_of(fixture_json(name))["messages"][0]


def only_status(name: str) -> tuple[StatusUpdate, dict[str, Any]]:
    item = only_item(name)
    assert isinstance(item, StatusUpdate)
    return item, value_of(fixture_json(name))["statuses"][0]


def wa_message(number: int, *, kind: str = "text") -> dict[str, Any]:
    return {
        "from": "15550001111",
        "id": f"wamid.M{number}",
        "timestamp": "1750000000",
        "type": kind,
        "text": {"body": f"message {number}"},
    }


def wa_status(number: int, status: str = "delivered") -> dict[str, Any]:
    return {"id": f"wamid.S{number}", "status": status, "timestamp": "1750000001", "recipient_id": "15550001111"}


def wa_body(*entries: tuple[str, list[tuple[str, dict[str, Any]]]]) -> dict[str, Any]:
    """``(waba_id, [(phone_number_id, value-without-metadata), ...])`` per entry."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                            **value,
                        },
                    }
                    for phone_number_id, value in changes
                ],
            }
            for waba_id, changes in entries
        ],
    }


# --- every fixture --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WHATSAPP_FIXTURES)
def test_every_whatsapp_fixture_parses_without_problems(name: str) -> None:
    delivery = parse_webhook(fixture_bytes(name))

    assert delivery.problems == ()
    assert delivery.object == "whatsapp_business_account"
    assert delivery.platform == "whatsapp"
    assert delivery.items
    for item in delivery.items:
        assert isinstance(
            item,
            InboundMessage
            | StatusUpdate
            | ValueErrorItem
            | MessageEcho
            | HistoryMessage
            | HistoryProgress
            | AddressBookEntry,
        )
        assert item.waba_id == fixture_json(name)["entry"][0]["id"]
        assert item.phone_number_id == value_of(fixture_json(name))["metadata"]["phone_number_id"]
        assert item.routing_id == item.phone_number_id
        assert item.is_echo is isinstance(item, MessageEcho)
        assert not isinstance(getattr(item, "content", None), UnknownContent)


# Written from Meta's coexistence webhook references (smb_message_echoes, history, smb_app_state_sync), beside the
# copies of the shared developer set.
COEXISTENCE_FIXTURES = {
    "whatsapp_history.json",
    "whatsapp_history_declined.json",
    "whatsapp_smb_app_state_sync.json",
    "whatsapp_smb_message_echoes.json",
}


def test_fixture_copies_match_the_count_in_the_readme() -> None:
    # The shared set's 44, plus 8 written from Meta's documented examples: the coexistence fields, the
    # Messenger and Instagram message_edit, WhatsApp's edit and revoke (compact and escaped, as Meta sends them).
    assert set(WHATSAPP_FIXTURES) >= COEXISTENCE_FIXTURES
    assert len(ALL_FIXTURES) - len(COEXISTENCE_FIXTURES) == 48
    assert len(WHATSAPP_FIXTURES) - len(COEXISTENCE_FIXTURES) == 31


def test_an_edit_names_its_original_and_brings_the_new_text() -> None:
    message, _ = only_message("whatsapp_edit.json")

    assert message.type == "edit"
    assert message.content == EditContent(
        original_message_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        body="Does it come in another colour? \N{INVERTED QUESTION MARK}Y en azul?",
    )


def test_a_revoke_names_the_message_taken_back() -> None:
    message, _ = only_message("whatsapp_revoke.json")

    assert message.content == RevokeContent(
        original_message_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    )


# --- inbound messages -----------------------------------------------------------------------------


def test_text_message_carries_routing_sender_and_body() -> None:
    message, raw = only_message("whatsapp_text.json")
    document = fixture_json("whatsapp_text.json")

    assert message.kind == "whatsapp.message"
    assert message.path == "entry[0].changes[0].messages[0]"
    assert message.waba_id == document["entry"][0]["id"] == "102290129340398"
    assert message.phone_number_id == value_of(document)["metadata"]["phone_number_id"] == "106540352242922"
    assert message.display_phone_number == value_of(document)["metadata"]["display_phone_number"]
    assert message.id == raw["id"]
    assert message.wa_id == raw["from"] == "16505551234"
    assert message.sender_id == "16505551234"
    assert message.profile_name == value_of(document)["contacts"][0]["profile"]["name"] == "Sheena Nelson"
    assert message.user_id is None
    assert message.parent_user_id is None
    assert message.timestamp == datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)
    assert message.timestamp.tzinfo is UTC
    assert message.type == "text"
    assert message.content == TextContent(body=raw["text"]["body"])
    assert message.context is None
    assert message.referral is None
    assert message.errors == ()
    assert message.raw == raw


def test_text_via_message_business_button_has_referred_product() -> None:
    message, raw = only_message("whatsapp_text_referred_product.json")

    assert message.content == TextContent(body="Is this still available?")
    assert message.context == MessageContext(
        message_id=raw["context"]["id"],
        sender=raw["context"]["from"],
        referred_product=ReferredProduct(catalog_id="194836987003835", product_retailer_id="di9ozbzfi4"),
    )
    assert message.waba_id == "419561257915477"
    assert message.timestamp == datetime(2025, 6, 15, 19, 46, 40, tzinfo=UTC)


def test_text_from_click_to_whatsapp_ad_has_every_referral_field() -> None:
    message, raw = only_message("whatsapp_text_ctwa_referral.json")
    referral = raw["referral"]

    assert message.content == TextContent(body="Can I get more info about this?")
    assert message.referral == AdReferral(
        source_url=referral["source_url"],
        source_id=referral["source_id"],
        source_type="ad",
        body=referral["body"],
        headline=referral["headline"],
        media_type="image",
        image_url=referral["image_url"],
        ctwa_clid=referral["ctwa_clid"],
        welcome_message_text=referral["welcome_message"]["text"],
    )
    assert message.referral.video_url is None
    assert message.referral.thumbnail_url is None
    assert message.timestamp == datetime(2025, 6, 18, 19, 46, 32, tzinfo=UTC)


def test_reply_context_and_bsuid_fields_come_from_the_contact() -> None:
    message, raw = only_message("whatsapp_text_reply_context.json")
    contact = value_of(fixture_json("whatsapp_text_reply_context.json"))["contacts"][0]

    assert message.context == MessageContext(message_id="wamid.xyzxyz==", sender="972123456789")
    assert message.context.is_forwarded is False
    assert message.user_id == contact["user_id"] == "US.13491208655302741918"
    assert message.parent_user_id == contact["parent_user_id"] == "US.ENT.11815799212886844830"
    assert message.profile_name == "Test Name"
    assert message.content == TextContent(body=raw["text"]["body"])
    assert message.timestamp == datetime(2023, 10, 11, 17, 19, 6, tzinfo=UTC)


def test_image_with_caption_and_url() -> None:
    message, raw = only_message("whatsapp_image.json")
    image = raw["image"]

    assert message.type == "image"
    assert message.content == MediaContent(
        type="image",
        media_id=image["id"],
        mime_type="image/jpeg",
        sha256=image["sha256"],
        url=image["url"],
        caption="Taj Mahal",
    )
    assert message.timestamp == datetime(2025, 4, 11, 4, 8, 16, tzinfo=UTC)


def test_image_without_caption_or_url_is_the_older_shape() -> None:
    message, raw = only_message("whatsapp_image_forwarded_no_url.json")

    assert message.content == MediaContent(
        type="image", media_id=raw["image"]["id"], mime_type="image/jpeg", sha256=raw["image"]["sha256"]
    )
    assert isinstance(message.content, MediaContent)
    assert message.content.url is None
    assert message.content.caption is None
    assert message.context is None
    assert message.timestamp == datetime(2023, 10, 11, 16, 56, 19, tzinfo=UTC)


def test_image_without_hash_or_mime_type_is_still_media_without_a_problem() -> None:
    document = fixture_json("whatsapp_image.json")
    image = value_of(document)["messages"][0]["image"]
    del image["sha256"], image["mime_type"]

    delivery = parse_json(document)

    assert delivery.problems == ()
    (message,) = delivery.items
    assert isinstance(message, InboundMessage)
    assert message.content == MediaContent(type="image", media_id=image["id"], url=image["url"], caption="Taj Mahal")


def test_voice_note_is_audio_with_the_voice_flag() -> None:
    message, raw = only_message("whatsapp_audio_voice.json")

    assert message.content == MediaContent(
        type="audio",
        media_id=raw["audio"]["id"],
        mime_type="audio/ogg; codecs=opus",
        sha256=raw["audio"]["sha256"],
        is_voice=True,
    )
    assert message.timestamp == datetime(2023, 10, 11, 16, 57, 53, tzinfo=UTC)


def test_forwarded_video_with_caption() -> None:
    message, raw = only_message("whatsapp_video.json")

    assert message.content == MediaContent(
        type="video", media_id="765756756", mime_type="video/mp4", sha256=raw["video"]["sha256"], caption="caption"
    )
    assert message.context == MessageContext(is_forwarded=True)
    assert message.timestamp == datetime(2023, 10, 11, 17, 12, 42, tzinfo=UTC)


def test_forwarded_document_keeps_its_filename() -> None:
    message, raw = only_message("whatsapp_document.json")

    assert message.content == MediaContent(
        type="document",
        media_id=raw["document"]["id"],
        mime_type="application/pdf",
        sha256=raw["document"]["sha256"],
        caption="caption",
        filename="filename.pdf",
    )
    assert message.context == MessageContext(is_forwarded=True)
    assert message.timestamp == datetime(2023, 10, 11, 17, 1, 6, tzinfo=UTC)


def test_animated_sticker() -> None:
    message, raw = only_message("whatsapp_sticker.json")

    assert message.content == MediaContent(
        type="sticker",
        media_id=raw["sticker"]["id"],
        mime_type="image/webp",
        sha256=raw["sticker"]["sha256"],
        is_animated=True,
    )
    assert message.timestamp == datetime(2023, 10, 11, 17, 3, 5, tzinfo=UTC)


def test_location_with_name_address_and_url() -> None:
    message, raw = only_message("whatsapp_location.json")

    assert message.content == LocationContent(
        latitude=37.4611978,
        longitude=-122.2164385,
        name="Facebook HQ",
        address="1 Hacker Way, Menlo Park, CA 94025",
        url=raw["location"]["url"],
    )
    assert message.context == MessageContext(is_forwarded=True)
    assert message.timestamp == datetime(2023, 10, 11, 17, 15, 57, tzinfo=UTC)


def test_contacts_message_keeps_three_structured_vcards() -> None:
    message, raw = only_message("whatsapp_contacts.json")

    assert isinstance(message.content, ContactsContent)
    assert len(message.content.contacts) == 3
    chandler, monica, rachel = message.content.contacts
    assert chandler.name == ContactName(formatted_name="Chandler Bing", first_name="Chandler", last_name="Bing")
    assert chandler.phones == (ContactPhone(phone="+1 555-555-5555", wa_id="972987654321", type="CELL"),)
    assert monica.name == ContactName(formatted_name="Monica", first_name="Monica")
    assert monica.phones == (ContactPhone(phone="+1 666-666-6666", wa_id="972987654321", type="HOME"),)
    assert rachel.name == ContactName(formatted_name="Rachel Green", first_name="Rachel", last_name="Green")
    assert rachel.phones == (ContactPhone(phone="+1 777-777-7777", wa_id="972987654321", type="WORK"),)
    assert [card.name.formatted_name for card in message.content.contacts] == [
        card["name"]["formatted_name"] for card in raw["contacts"]
    ]
    assert (chandler.emails, chandler.urls, chandler.addresses, chandler.org, chandler.birthday) == (
        (),
        (),
        (),
        None,
        None,
    )
    # the sender's profile is the value-level contacts[], not the shared cards
    assert message.profile_name == "Test Name"
    assert message.timestamp == datetime(2023, 10, 11, 17, 17, 1, tzinfo=UTC)


def test_interactive_button_reply() -> None:
    message, raw = only_message("whatsapp_interactive_button_reply.json")

    assert message.type == "interactive"
    assert message.content == ButtonReplyContent(id="cancel-button", title="Cancel")
    assert message.context == MessageContext(message_id=raw["context"]["id"], sender="15550783881")
    assert message.timestamp == datetime(2025, 6, 15, 22, 5, 36, tzinfo=UTC)


def test_interactive_list_reply_with_description() -> None:
    message, raw = only_message("whatsapp_interactive_list_reply.json")

    assert message.content == ListReplyContent(
        id="priority_express", title="Priority Mail Express", description="Next Day to 2 Days"
    )
    assert message.context == MessageContext(message_id=raw["context"]["id"], sender="15550783881")
    assert message.timestamp == datetime(2025, 6, 13, 22, 42, 55, tzinfo=UTC)


def test_flow_reply_decodes_its_response_json_string() -> None:
    message, raw = only_message("whatsapp_interactive_nfm_reply.json")

    assert message.content == FlowReplyContent(
        name="flow",
        body="Sent",
        response_json={"flow_token": "fl0w+t0k3n", "first_name": "Bob", "age": "32"},
        response_json_raw=raw["interactive"]["nfm_reply"]["response_json"],
    )
    assert message.id == "external_id"
    assert message.wa_id == "5678"
    assert message.profile_name == "Kerry Fisher"
    assert message.display_phone_number == "+250 788 123 200"
    assert message.timestamp == datetime(2016, 1, 30, 1, 57, 9, tzinfo=UTC)


@pytest.mark.parametrize("bad_json", ['{"flow_token": ', '["not", "an", "object"]', "NaN"])
def test_flow_reply_with_a_bad_response_json_keeps_the_raw_string_and_notes_a_problem(bad_json: str) -> None:
    document = fixture_json("whatsapp_interactive_nfm_reply.json")
    value_of(document)["messages"][0]["interactive"]["nfm_reply"]["response_json"] = bad_json

    delivery = parse_json(document)

    assert delivery.problems == (
        ParseProblem(
            path="entry[0].changes[0].messages[0].interactive.nfm_reply.response_json",
            reason="not a JSON object string",
        ),
    )
    (message,) = delivery.items
    assert isinstance(message, InboundMessage)
    assert message.content == FlowReplyContent(name="flow", body="Sent", response_json=None, response_json_raw=bad_json)


def test_template_quick_reply_button_with_bsuid_fields() -> None:
    message, raw = only_message("whatsapp_button.json")

    assert message.type == "button"
    assert message.content == TemplateButtonContent(payload="callback_data", text="title")
    assert message.context == MessageContext(message_id="wamid.xyzxyz==", sender="972123456789")
    assert message.id == raw["id"] == "wamid.xsidjw"
    assert message.user_id == "US.13491208655302741918"
    assert message.parent_user_id == "US.ENT.11815799212886844830"
    assert message.waba_id == "5467539754836534"
    assert message.timestamp == datetime(2023, 10, 25, 21, 23, 47, tzinfo=UTC)


def test_reaction_with_emoji() -> None:
    message, raw = only_message("whatsapp_reaction.json")

    assert message.content == ReactionContent(
        message_id=raw["reaction"]["message_id"], emoji="\N{FACE WITH OPEN MOUTH}"
    )
    assert isinstance(message.content, ReactionContent)
    assert message.content.removed is False
    assert message.timestamp == datetime(2023, 10, 11, 17, 14, 16, tzinfo=UTC)


def test_reaction_removed_has_an_empty_emoji() -> None:
    message, raw = only_message("whatsapp_reaction_removed.json")

    assert message.content == ReactionContent(message_id=raw["reaction"]["message_id"], emoji="")
    assert raw["reaction"]["emoji"] == ""
    assert isinstance(message.content, ReactionContent)
    assert message.content.removed is True


def test_reaction_without_emoji_key_counts_as_removed() -> None:
    document = fixture_json("whatsapp_reaction.json")
    del value_of(document)["messages"][0]["reaction"]["emoji"]

    (message,) = parse_json(document).items

    assert isinstance(message, InboundMessage)
    assert isinstance(message.content, ReactionContent)
    assert message.content.removed is True


def test_order_items_are_typed() -> None:
    message, raw = only_message("whatsapp_order.json")

    assert message.content == OrderContent(
        catalog_id="354160437058781",
        text="",
        product_items=(
            OrderItem(product_retailer_id="HAMBURGER", quantity=3, item_price=Decimal(30), currency="ILS"),
            OrderItem(product_retailer_id="FRENCH_FRIES", quantity=2, item_price=Decimal(35), currency="ILS"),
            OrderItem(product_retailer_id="SODA", quantity=2, item_price=Decimal(10), currency="ILS"),
        ),
    )
    assert isinstance(message.content, OrderContent)
    assert [item.quantity for item in message.content.product_items] == [
        item["quantity"] for item in raw["order"]["product_items"]
    ]
    assert sum(item.item_price * item.quantity for item in message.content.product_items) == Decimal(180)


def test_order_price_with_cents_is_an_exact_decimal() -> None:
    document = fixture_json("whatsapp_order.json")
    value_of(document)["messages"][0]["order"]["product_items"][0]["item_price"] = 12.99

    (message,) = parse_json(document).items

    assert isinstance(message, InboundMessage)
    assert isinstance(message.content, OrderContent)
    assert message.content.product_items[0].item_price == Decimal("12.99")


@pytest.mark.parametrize(
    ("price", "problem"),
    [
        ("12.50", None),
        (None, "missing"),
        (True, "expected a number, got boolean"),
        ({"amount": 1}, "expected a number, got object"),
        ("twelve", "expected a number"),
        ("NaN", "expected a finite number"),
    ],
)
def test_order_price_must_be_a_finite_number(price: Any, problem: str | None) -> None:
    document = fixture_json("whatsapp_order.json")
    value_of(document)["messages"][0]["order"]["product_items"][1]["item_price"] = price

    delivery = parse_json(document)

    (message,) = delivery.items
    assert isinstance(message, InboundMessage)
    if problem is None:
        assert delivery.problems == ()
        assert isinstance(message.content, OrderContent)
        assert message.content.product_items[1].item_price == Decimal("12.50")
    else:
        path = "entry[0].changes[0].messages[0].order.product_items[1].item_price"
        assert delivery.problems == (ParseProblem(path=path, reason=problem),)
        assert isinstance(message.content, UnknownContent)


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("99999999999999999999", "Unix time out of range"),
        ("-5", "expected Unix time, got string"),
        ("1750000000.5", "expected Unix time, got string"),
        (1750000000.0, "expected Unix time, got number"),
        (True, "expected Unix time, got boolean"),
    ],
)
def test_unusable_timestamps_reject_the_item(timestamp: Any, reason: str) -> None:
    raw = wa_message(1) | {"timestamp": timestamp}

    delivery = parse_json(wa_body(("W1", [("P1", {"messages": [raw]})])))

    assert delivery.problems == (ParseProblem(path="entry[0].changes[0].messages[0].timestamp", reason=reason),)
    assert [item.kind for item in delivery.items] == ["unknown"]


def test_numeric_string_and_integer_timestamps_agree() -> None:
    as_string = parse_json(wa_body(("W1", [("P1", {"statuses": [wa_status(1) | {"timestamp": "1750000001"}]})])))
    as_number = parse_json(wa_body(("W1", [("P1", {"statuses": [wa_status(1) | {"timestamp": 1750000001}]})])))

    assert [item.timestamp for item in as_string.items if isinstance(item, StatusUpdate)] == [
        datetime(2025, 6, 15, 15, 6, 41, tzinfo=UTC)
    ]
    assert [item.timestamp for item in as_number.items if isinstance(item, StatusUpdate)] == [
        datetime(2025, 6, 15, 15, 6, 41, tzinfo=UTC)
    ]


def test_user_changed_number_arrives_without_contacts() -> None:
    document = fixture_json("whatsapp_system_user_changed_number.json")
    assert "contacts" not in value_of(document)
    message, raw = only_message("whatsapp_system_user_changed_number.json")

    assert message.content == SystemContent(
        system_type="user_changed_number", body=raw["system"]["body"], new_wa_id="972912345678"
    )
    assert message.wa_id == "972987654321"
    assert message.id == "wamid.xyzxyz=="
    assert message.profile_name is None
    assert message.user_id is None
    assert message.timestamp == datetime(2025, 7, 30, 4, 55, 15, tzinfo=UTC)


def test_unsupported_message_carries_its_errors() -> None:
    message, raw = only_message("whatsapp_unsupported.json")

    assert message.type == "unsupported"
    assert message.content == UnsupportedContent(unsupported_type="pool")
    assert message.errors == (
        GraphError(
            code=131051,
            title="Message type unknown",
            message="Message type unknown",
            details="Message type is currently not supported.",
        ),
    )
    assert message.errors[0].code == raw["errors"][0]["code"]
    assert message.timestamp == datetime(2023, 10, 11, 17, 18, 26, tzinfo=UTC)


def test_duplicate_in_one_post_stays_two_items_because_dedupe_happens_in_the_database() -> None:
    delivery = parse_webhook(fixture_bytes("whatsapp_duplicate_in_one_post.json"))

    assert delivery.problems == ()
    assert len(delivery.items) == 2
    first, second = delivery.items
    assert isinstance(first, InboundMessage)
    assert isinstance(second, InboundMessage)
    assert first.id == second.id == "external_id"
    assert first.path == "entry[0].changes[0].messages[0]"
    assert second.path == "entry[0].changes[0].messages[1]"
    assert first.content == second.content == TextContent(body="Hello World")
    assert first.profile_name == second.profile_name == "Kerry Fisher"


def test_unknown_message_type_is_kept_raw_and_flagged_without_a_problem() -> None:
    document = wa_body(("W1", [("P1", {"messages": [{**wa_message(1, kind="holographic"), "holographic": {"x": 1}}]})]))

    delivery = parse_json(document)

    assert delivery.problems == ()
    (message,) = delivery.items
    assert isinstance(message, InboundMessage)
    assert message.type == "holographic"
    assert message.content == UnknownContent(type="holographic", raw=value_of(document)["messages"][0])
    assert isinstance(message.content, UnknownContent)
    assert message.content.flagged is True


def test_unknown_interactive_reply_type_is_flagged() -> None:
    raw = {**wa_message(1, kind="interactive"), "interactive": {"type": "call_permission_reply", "x": {}}}

    (message,) = parse_json(wa_body(("W1", [("P1", {"messages": [raw]})]))).items

    assert isinstance(message, InboundMessage)
    assert message.content == UnknownContent(type="interactive.call_permission_reply", raw=raw)


def test_known_type_with_a_broken_payload_keeps_the_message_with_flagged_content() -> None:
    document = fixture_json("whatsapp_image.json")
    del value_of(document)["messages"][0]["image"]["id"]

    delivery = parse_json(document)

    assert delivery.problems == (ParseProblem(path="entry[0].changes[0].messages[0].image.id", reason="missing"),)
    (message,) = delivery.items
    assert isinstance(message, InboundMessage)
    assert message.id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert message.content == UnknownContent(type="image", raw=value_of(document)["messages"][0])


def test_bsuid_only_sender_has_no_wa_id() -> None:
    raw = wa_message(1)
    del raw["from"]
    raw |= {"from_user_id": "US.1349", "from_parent_user_id": "US.1181"}
    value = {
        "contacts": [{"profile": {"name": "Sheena Nelson", "username": "@sheena"}, "user_id": "US.1349"}],
        "messages": [raw],
    }

    (message,) = parse_json(wa_body(("W1", [("P1", value)]))).items

    assert isinstance(message, InboundMessage)
    assert (message.wa_id, message.user_id, message.parent_user_id) == (None, "US.1349", "US.1181")
    assert message.sender_id == "US.1349"
    assert message.profile_name == "Sheena Nelson"


def test_message_without_any_sender_id_is_an_unknown_item() -> None:
    raw = wa_message(1)
    del raw["from"]

    delivery = parse_json(wa_body(("W1", [("P1", {"messages": [raw]})])))

    assert delivery.problems == (
        ParseProblem(path="entry[0].changes[0].messages[0].from", reason="missing (and no from_user_id)"),
    )
    assert delivery.items == (
        UnknownItem(platform="whatsapp", path="entry[0].changes[0].messages[0]", routing_id="P1", raw=raw),
    )


# --- statuses -------------------------------------------------------------------------------------


def test_sent_status_with_conversation_string_expiration_and_pmp_pricing() -> None:
    status, raw = only_status("whatsapp_status_sent.json")

    assert status.kind == "whatsapp.status"
    assert status.path == "entry[0].changes[0].statuses[0]"
    assert status.message_id == raw["id"]
    assert status.status == "sent"
    assert status.is_known_status is True
    assert status.timestamp == datetime(2025, 6, 15, 23, 27, 53, tzinfo=UTC)
    assert status.recipient_id == "16505551234"
    assert status.recipient_user_id is None
    assert status.conversation == Conversation(
        id="72b14d6bd5407799e66f64d1b338e567",
        origin_type="marketing",
        expiration=datetime(2025, 6, 16, 23, 28, 0, tzinfo=UTC),
    )
    assert raw["conversation"]["expiration_timestamp"] == "1750116480"
    assert status.pricing == Pricing(billable=True, pricing_model="PMP", type="regular", category="marketing")
    assert status.errors == ()
    assert status.biz_opaque_callback_data is None
    assert status.routing_id == "106540352242922"


def test_delivered_status_with_cbp_pricing_and_a_conversation_without_expiration() -> None:
    status, raw = only_status("whatsapp_status_delivered.json")

    assert status.status == "delivered"
    assert status.message_id == "wamid.xyzxyz"
    assert status.timestamp == datetime(2023, 10, 25, 20, 49, 5, tzinfo=UTC)
    assert status.recipient_id == "972987654321"
    assert status.recipient_user_id == "US.13491208655302741918"
    assert status.conversation == Conversation(id=raw["conversation"]["id"], origin_type="service", expiration=None)
    assert status.pricing == Pricing(billable=True, pricing_model="CBP", type=None, category="service")


def test_read_status_in_the_v24_shape_has_no_conversation_or_pricing() -> None:
    status, raw = only_status("whatsapp_status_read.json")

    assert status.status == "read"
    assert status.message_id == raw["id"]
    assert status.timestamp == datetime(2025, 6, 15, 23, 27, 53, tzinfo=UTC)
    assert status.recipient_id == "16505551234"
    assert status.conversation is None
    assert status.pricing is None


def test_failed_status_carries_the_full_error_shape() -> None:
    status, raw = only_status("whatsapp_status_failed.json")
    error = raw["errors"][0]

    assert status.status == "failed"
    assert status.timestamp == datetime(2025, 6, 28, 20, 34, 48, tzinfo=UTC)
    assert status.errors == (
        GraphError(
            code=131049,
            title=error["title"],
            message=error["message"],
            details=error["error_data"]["details"],
            href="/documentation/business-messaging/whatsapp/support/error-codes",
        ),
    )
    assert status.errors[0].title == "This message was not delivered to maintain healthy ecosystem engagement."


def test_failed_status_from_an_experiment_with_an_absolute_href() -> None:
    status, raw = only_status("whatsapp_status_failed_experiment.json")

    assert status.errors == (
        GraphError(
            code=130472,
            title="User's number is part of an experiment",
            message="User's number is part of an experiment",
            details=raw["errors"][0]["error_data"]["details"],
            href="https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        ),
    )
    assert status.recipient_user_id == "US.13491208655302741918"
    assert status.timestamp == datetime(2023, 7, 15, 0, 20, 58, tzinfo=UTC)


def test_failed_status_in_the_legacy_shape_with_a_numeric_expiration() -> None:
    status, raw = only_status("whatsapp_status_failed_legacy_shape.json")

    assert status.errors == (
        GraphError(code=131014, title="Request for url https://URL.jpg failed with error: 404 (Not Found)"),
    )
    assert (status.errors[0].message, status.errors[0].details, status.errors[0].href) == (None, None, None)
    assert raw["conversation"]["expiration_timestamp"] == 1454119029
    assert status.conversation == Conversation(
        id="CONVERSATION_ID", origin_type="referral_conversion", expiration=datetime(2016, 1, 30, 1, 57, 9, tzinfo=UTC)
    )
    assert status.pricing == Pricing(billable=False, pricing_model="CBP", type=None, category="referral_conversion")
    assert status.message_id == "external_id"
    assert status.recipient_id == "5678"
    assert status.raw["type"] == "message"  # legacy key, not modelled


def test_unknown_status_value_is_kept() -> None:
    delivery = parse_json(wa_body(("W1", [("P1", {"statuses": [wa_status(1, "in_orbit")]})])))

    assert delivery.problems == ()
    (status,) = delivery.items
    assert isinstance(status, StatusUpdate)
    assert status.status == "in_orbit"
    assert status.is_known_status is False


def test_status_callback_data_is_read() -> None:
    raw = wa_status(1) | {"biz_opaque_callback_data": "msg_0192"}

    (status,) = parse_json(wa_body(("W1", [("P1", {"statuses": [raw]})]))).items

    assert isinstance(status, StatusUpdate)
    assert status.biz_opaque_callback_data == "msg_0192"


def test_status_missing_its_timestamp_becomes_an_unknown_item_with_a_precise_path() -> None:
    raw = wa_status(1)
    del raw["timestamp"]

    delivery = parse_json(wa_body(("W1", [("P1", {"statuses": [wa_status(0), raw]})])))

    assert delivery.problems == (ParseProblem(path="entry[0].changes[0].statuses[1].timestamp", reason="missing"),)
    assert [item.kind for item in delivery.items] == ["whatsapp.status", "unknown"]
    assert delivery.items[1] == UnknownItem(
        platform="whatsapp", path="entry[0].changes[0].statuses[1]", routing_id="P1", raw=raw
    )


# --- value-level errors and other fields ----------------------------------------------------------


def test_value_level_error_becomes_a_value_error_item() -> None:
    item = only_item("whatsapp_errors.json")
    error = value_of(fixture_json("whatsapp_errors.json"))["errors"][0]

    assert isinstance(item, ValueErrorItem)
    assert item.kind == "whatsapp.error"
    assert item.path == "entry[0].changes[0].errors[0]"
    assert item.phone_number_id == "106540352242922"
    assert item.error == GraphError(
        code=130429,
        title="Rate limit hit",
        message="Rate limit hit",
        details=error["error_data"]["details"],
        href="/documentation/business-messaging/whatsapp/support/error-codes",
    )


def test_error_data_as_a_bare_string_becomes_the_details() -> None:
    error = {"code": 132001, "title": "Template name does not exist", "error_data": "template missing"}

    (item,) = parse_json(wa_body(("W1", [("P1", {"errors": [error]})]))).items

    assert isinstance(item, ValueErrorItem)
    assert item.error == GraphError(code=132001, title="Template name does not exist", details="template missing")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (
            "message_template_status_update",
            {"event": "APPROVED", "message_template_id": 594425479261596, "message_template_name": "hello"},
        ),
        ("phone_number_quality_update", {"display_phone_number": "15550783881", "event": "FLAGGED"}),
        ("account_update", {"phone_number": "15550783881", "event": "VERIFIED_ACCOUNT"}),
    ],
)
def test_account_fields_become_account_updates_routed_by_the_waba(field: str, value: dict[str, Any]) -> None:
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "W1", "time": 1767273000, "changes": [{"field": field, "value": value}]}],
    }

    delivery = parse_json(document)

    assert delivery.problems == ()
    (item,) = delivery.items
    assert isinstance(item, AccountUpdate)
    assert (item.path, item.waba_id, item.field, item.raw, item.routing_id) == (
        "entry[0].changes[0]",
        "W1",
        field,
        value,
        "W1",
    )


def test_helper_properties_are_uniform_across_item_kinds() -> None:
    document = wa_body(("W1", [("P1", {"messages": [wa_message(1), 42]})]))
    document["entry"][0]["changes"].append({"field": "account_update", "value": {"event": "X"}})

    message, unknown, event = parse_json(document).items

    assert (message.platform, message.routing_id, message.is_echo) == ("whatsapp", "P1", False)
    assert (unknown.platform, unknown.routing_id, unknown.is_echo) == ("whatsapp", "P1", False)
    assert (event.platform, event.routing_id, event.is_echo) == ("whatsapp", "W1", False)


# --- batches --------------------------------------------------------------------------------------


def test_mixed_batch_keeps_document_order_routing_and_isolates_one_garbage_item() -> None:
    document = wa_body(
        (
            "W1",
            [
                ("P1", {"messages": [wa_message(1), wa_message(2)]}),
                ("P2", {"statuses": [wa_status(1)], "messages": [wa_message(3)]}),
            ],
        ),
        (
            "W2",
            [
                ("P3", {"statuses": [wa_status(2), "garbage", wa_status(3, "read")]}),
                ("P4", {"messages": [wa_message(4)]}),
            ],
        ),
    )

    delivery = parse_json(document)

    assert delivery.problems == (
        ParseProblem(path="entry[1].changes[0].statuses[1]", reason="expected object, got string"),
    )
    assert [(item.kind, item.path, item.routing_id) for item in delivery.items] == [
        ("whatsapp.message", "entry[0].changes[0].messages[0]", "P1"),
        ("whatsapp.message", "entry[0].changes[0].messages[1]", "P1"),
        ("whatsapp.status", "entry[0].changes[1].statuses[0]", "P2"),
        ("whatsapp.message", "entry[0].changes[1].messages[0]", "P2"),
        ("whatsapp.status", "entry[1].changes[0].statuses[0]", "P3"),
        ("unknown", "entry[1].changes[0].statuses[1]", "P3"),
        ("whatsapp.status", "entry[1].changes[0].statuses[2]", "P3"),
        ("whatsapp.message", "entry[1].changes[1].messages[0]", "P4"),
    ]
    wabas = [item.waba_id for item in delivery.items if isinstance(item, InboundMessage | StatusUpdate)]
    assert wabas == ["W1", "W1", "W1", "W1", "W2", "W2", "W2"]
    ids = [
        item.id if isinstance(item, InboundMessage) else getattr(item, "message_id", None) for item in delivery.items
    ]
    assert ids == ["wamid.M1", "wamid.M2", "wamid.S1", "wamid.M3", "wamid.S2", None, "wamid.S3", "wamid.M4"]
    assert delivery.items[5] == UnknownItem(
        platform="whatsapp", path="entry[1].changes[0].statuses[1]", routing_id="P3", raw="garbage"
    )


def test_change_without_phone_number_id_is_one_unknown_item_and_the_next_change_still_parses() -> None:
    document = wa_body(("W1", [("P1", {"messages": [wa_message(1)]}), ("P2", {"messages": [wa_message(2)]})]))
    del document["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]

    delivery = parse_json(document)

    assert delivery.problems == (ParseProblem(path="entry[0].changes[0].metadata.phone_number_id", reason="missing"),)
    assert [(item.kind, item.path, item.routing_id) for item in delivery.items] == [
        ("unknown", "entry[0].changes[0]", "W1"),
        ("whatsapp.message", "entry[0].changes[1].messages[0]", "P2"),
    ]


def test_a_thousand_item_batch_parses_in_one_call() -> None:
    changes = [(f"P{index}", {"messages": [wa_message(index * 100 + n) for n in range(50)]}) for index in range(10)]
    statuses = [(f"P{index}", {"statuses": [wa_status(index * 100 + n) for n in range(50)]}) for index in range(10)]
    document = wa_body(("W1", changes), ("W2", statuses))

    delivery = parse_json(document)

    assert delivery.problems == ()
    assert len(delivery.items) == 1000
    assert sum(isinstance(item, InboundMessage) for item in delivery.items) == 500
    assert sum(isinstance(item, StatusUpdate) for item in delivery.items) == 500
    assert delivery.items[0].path == "entry[0].changes[0].messages[0]"
    assert delivery.items[999].path == "entry[1].changes[9].statuses[49]"


def test_meta_wire_format_with_escaped_unicode_and_slashes_parses_to_the_same_items() -> None:
    for name in ("whatsapp_reaction.json", "whatsapp_image.json", "whatsapp_text_ctwa_referral.json"):
        compact = json.dumps(fixture_json(name), separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")
        assert "\\/" in compact or "\\u" in compact

        assert parse_webhook(compact.encode()) == parse_webhook(fixture_bytes(name))


# --- the entry point never raises -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", ParseProblem(path="body", reason="invalid JSON: Expecting value: line 1 column 1 (char 0)")),
        (b"\xff\xfe{}", ParseProblem(path="body", reason="not UTF-8")),
        (
            b'{"object": "page",',
            ParseProblem(
                path="body",
                reason="invalid JSON: Expecting property name enclosed in double quotes: line 1 column 19 (char 18)",
            ),
        ),
        (b'{"object": NaN}', ParseProblem(path="body", reason="invalid JSON: NaN is not JSON")),
        (b"[1, 2]", ParseProblem(path="body", reason="expected a JSON object")),
        (b"[" * 100_000, None),
        (b'{"object": "telegram", "entry": []}', ParseProblem(path="object", reason="unknown object 'telegram'")),
        (b'{"entry": []}', ParseProblem(path="object", reason="unknown object 'None'")),
        (b'{"object": 7}', ParseProblem(path="object", reason="unknown object '7'")),
    ],
)
def test_unusable_bodies_give_one_problem_and_no_items(body: bytes, problem: ParseProblem | None) -> None:
    delivery = parse_webhook(body)

    assert delivery.items == ()
    assert len(delivery.problems) == 1
    assert delivery.has_problems is True
    if problem is not None:
        assert delivery.problems == (problem,)
    else:
        assert delivery.problems[0].path == "body"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"object": "whatsapp_business_account"}, ParseProblem(path="entry", reason="missing")),
        (
            {"object": "whatsapp_business_account", "entry": {}},
            ParseProblem(path="entry", reason="expected array, got object"),
        ),
        (
            {"object": "whatsapp_business_account", "entry": [{"id": "W1", "changes": "x"}]},
            ParseProblem(path="entry[0].changes", reason="expected array, got string"),
        ),
    ],
)
def test_wrong_envelope_types_are_problems_not_exceptions(document: dict[str, Any], problem: ParseProblem) -> None:
    delivery = parse_json(document)

    assert delivery.items == ()
    assert delivery.problems == (problem,)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
TYPED_VALUES: dict[type, st.SearchStrategy[Any]] = {
    type(None): st.none(),
    bool: st.booleans(),
    int: st.integers(),
    float: st.floats(allow_nan=False, allow_infinity=False),
    str: st.text(max_size=20),
    list: st.lists(JSON_VALUES, max_size=3),
    dict: st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=3),
}
OBJECT_NAMES = st.sampled_from(["whatsapp_business_account", "page", "instagram", "other"])


def check_invariants(delivery: ParsedDelivery) -> None:
    """What a caller relies on whatever the input: typed items, unique paths, a problem for every reject."""
    assert isinstance(delivery, ParsedDelivery)
    assert all(isinstance(item, ITEM_TYPES) for item in delivery.items)
    paths = [item.path for item in delivery.items]
    assert len(paths) == len(set(paths))
    assert sum(isinstance(item, UnknownItem) for item in delivery.items) <= len(delivery.problems)
    assert all(isinstance(problem, ParseProblem) and problem.path for problem in delivery.problems)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_arbitrary_json_never_raises(value: Any) -> None:
    check_invariants(parse_json(value))


@settings(max_examples=300, deadline=None)
@given(OBJECT_NAMES, JSON_VALUES)
def test_arbitrary_entries_under_a_known_object_never_raise(object_name: str, entry: Any) -> None:
    check_invariants(parse_json({"object": object_name, "entry": entry}))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    check_invariants(parse_webhook(body))


def locations(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside a JSON document (not the root itself)."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    found: list[tuple[Any, ...]] = []
    for key, child in children:
        found += [(*path, key), *locations(child, (*path, key))]
    return found


@st.composite
def mutated_fixture(draw: st.DrawFn, names: list[str]) -> bytes:
    """A fixture with 1-3 mutations: a key dropped, a value swapped for another JSON type, or extra nesting."""
    document = fixture_json(draw(st.sampled_from(names)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [path for path in locations(document) if path != ("object",)]  # the dispatch has its own tests
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = reduce(getitem, path[:-1], document), path[-1]
        mutation = draw(st.sampled_from(["drop", "retype", "wrap"]))
        if mutation == "drop":
            del parent[key]
        elif mutation == "retype":
            parent[key] = draw(
                st.one_of([values for kind, values in TYPED_VALUES.items() if kind is not type(parent[key])])
            )
        else:
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}, {"data": [parent[key]]}]))
    return json.dumps(document).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_fixture(WHATSAPP_FIXTURES))
def test_mutated_whatsapp_fixtures_never_raise(body: bytes) -> None:
    check_invariants(parse_webhook(body))
