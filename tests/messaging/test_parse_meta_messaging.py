"""The Messenger / Instagram parsing layer, checked against the captured fixtures and fuzzed.

Expected values come from the fixture JSON; datetimes (milliseconds on this platform) are written out by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from messaging.providers.delivery import DeliveryItem, ParsedDelivery
from messaging.providers.items import ChannelEventItem, ParseProblem, UnknownItem
from messaging.providers.meta_messaging.types import (
    Attachment,
    MessagingDelivery,
    MessagingEdit,
    MessagingItem,
    MessagingMessage,
    MessagingOtherEvent,
    MessagingPostback,
    MessagingReaction,
    MessagingRead,
    MessagingReferral,
    MessagingUnsent,
    ReferralInfo,
    StoryReference,
)
from messaging.providers.registry import parse_webhook
from tests.messaging.test_parse_whatsapp import check_invariants, mutated_fixture

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "meta"
MESSAGING_FIXTURES = sorted(
    path.name for path in FIXTURES.glob("*.json") if path.name.startswith(("messenger_", "instagram_"))
)
COURIER_TIME = datetime(2016, 4, 7, 1, 11, 27, 970000, tzinfo=UTC)  # 1459991487970 ms


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_event(name: str) -> dict[str, Any]:
    """The fixture's raw ``entry[0].messaging[0]``."""
    raw: dict[str, Any] = json.loads(fixture_bytes(name))["entry"][0]["messaging"][0]
    return raw


def only_item(name: str) -> DeliveryItem:
    delivery = parse_webhook(fixture_bytes(name))
    assert delivery.problems == ()
    assert len(delivery.items) == 1
    return delivery.items[0]


def parse_json(document: Any) -> ParsedDelivery:
    return parse_webhook(json.dumps(document).encode())


def event(
    key: str, payload: Any, *, sender: str = "5678", recipient: str = "P1", timestamp: Any = 1459991487970
) -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": timestamp, key: payload}


def body(object_name: str, *entries: tuple[str, list[dict[str, Any]]], key: str = "messaging") -> dict[str, Any]:
    return {
        "object": object_name,
        "entry": [{"id": account_id, "time": 1459991487970, key: events} for account_id, events in entries],
    }


def assert_envelope(item: MessagingItem, raw: dict[str, Any], *, platform: str, account_id: str) -> None:
    assert item.platform == platform
    assert item.path == "entry[0].messaging[0]"
    assert item.account_id == item.routing_id == account_id
    assert item.sender_id == raw["sender"]["id"]
    assert item.recipient_id == raw["recipient"]["id"]
    assert item.is_standby is False
    assert item.raw == raw


# --- every fixture --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MESSAGING_FIXTURES)
def test_every_messaging_fixture_parses_without_problems(name: str) -> None:
    delivery = parse_webhook(fixture_bytes(name))
    document = json.loads(fixture_bytes(name))

    assert delivery.problems == ()
    assert delivery.object == document["object"]
    assert delivery.platform == ("messenger" if document["object"] == "page" else "instagram")
    assert len(delivery.items) == 1
    assert isinstance(delivery.items[0], MessagingItem)
    assert delivery.items[0].routing_id == document["entry"][0]["id"]


def test_there_are_seventeen_messaging_fixtures() -> None:
    assert (
        len(MESSAGING_FIXTURES) == 17
    )  # the shared set's 15, and the Messenger and Instagram message_edit from Meta's example


# --- messages -------------------------------------------------------------------------------------


def test_messenger_text() -> None:
    item = only_item("messenger_text.json")
    raw = fixture_event("messenger_text.json")

    assert isinstance(item, MessagingMessage)
    assert_envelope(item, raw, platform="messenger", account_id="1234567890")
    assert item.kind == "meta.message"
    assert item.mid == raw["message"]["mid"] == "external_id"
    assert item.text == "Hello World"
    assert item.timestamp == COURIER_TIME
    assert item.timestamp.tzinfo is UTC
    assert item.is_echo is False
    assert (item.business_side, item.business_id, item.user_id) == ("recipient", "1234567890", "5678")
    assert (item.attachments, item.quick_reply_payload, item.reply_to_mid, item.app_id) == ((), None, None, None)


def test_messenger_text_with_quick_reply_payload() -> None:
    item = only_item("messenger_text_quick_reply.json")
    raw = fixture_event("messenger_text_quick_reply.json")

    assert isinstance(item, MessagingMessage)
    assert_envelope(item, raw, platform="messenger", account_id="<PAGE_ID>")
    assert item.mid == "mid.1457764197618:41d102a3e1ae206a38"
    assert item.text == "hello, world!"
    assert item.quick_reply_payload == raw["message"]["quick_reply"]["payload"] == "<DEVELOPER_DEFINED_PAYLOAD>"
    assert item.timestamp == datetime(2016, 3, 23, 0, 25, 52, 478000, tzinfo=UTC)
    assert item.user_id == "<PSID>"


def test_messenger_text_replying_to_a_message() -> None:
    item = only_item("messenger_text_reply_to.json")
    raw = fixture_event("messenger_text_reply_to.json")

    assert isinstance(item, MessagingMessage)
    assert item.mid == raw["message"]["mid"]
    assert item.reply_to_mid == raw["message"]["reply_to"]["mid"] == "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"
    assert item.reply_to_story is None
    assert item.is_story_reply is False


def test_messenger_image_attachment() -> None:
    item = only_item("messenger_attachment_image.json")
    raw = fixture_event("messenger_attachment_image.json")

    assert isinstance(item, MessagingMessage)
    assert item.attachments == (
        Attachment(type="image", url="https://image-url/foo.png", payload=raw["message"]["attachments"][0]["payload"]),
    )
    assert item.text is None
    assert item.is_story_mention is False


def test_messenger_echo_from_meta_docs_names_the_sender_as_the_business() -> None:
    item = only_item("messenger_echo.json")
    raw = fixture_event("messenger_echo.json")

    assert isinstance(item, MessagingMessage)
    assert_envelope(item, raw, platform="messenger", account_id="<PAGE_ID>")
    assert item.is_echo is True
    assert item.app_id == str(raw["message"]["app_id"]) == "1517776481860111"
    assert item.metadata == "<DEVELOPER_DEFINED_METADATA_STRING>"
    assert item.mid == "mid.1457764197618:41d102a3e1ae206a38"
    assert item.text == "hello, world!"
    assert item.timestamp == datetime(2016, 3, 12, 6, 29, 57, 627000, tzinfo=UTC)
    assert (item.business_side, item.business_id, item.user_id) == ("sender", "<PSID>", "<USER_ID>")


def test_minimal_messenger_echo_whose_recipient_is_the_page_trusts_entry_id() -> None:
    item = only_item("messenger_echo_minimal.json")
    raw = fixture_event("messenger_echo_minimal.json")

    assert isinstance(item, MessagingMessage)
    assert_envelope(item, raw, platform="messenger", account_id="1234567890")
    assert (item.is_echo, item.mid, item.text, item.app_id) == (True, "qT7ywaK", None, None)
    assert (item.business_side, item.business_id, item.user_id) == ("recipient", "1234567890", "5678")


def test_messenger_echo_where_the_page_sends_matches_entry_id_on_the_sender_side() -> None:
    raw = event(
        "message",
        {"is_echo": True, "mid": "m_1", "text": "hi", "app_id": "263902037430900"},
        sender="P1",
        recipient="U9",
    )

    (item,) = parse_json(body("page", ("P1", [raw]))).items

    assert isinstance(item, MessagingMessage)
    assert (item.business_side, item.business_id, item.user_id, item.app_id) == (
        "sender",
        "P1",
        "U9",
        "263902037430900",
    )


def test_event_where_neither_side_is_entry_id_treats_the_recipient_as_the_business() -> None:
    raw = event("message", {"mid": "m_8", "text": "hi"}, sender="U1", recipient="P9")

    (item,) = parse_json(body("page", ("P1", [raw]))).items

    assert isinstance(item, MessagingMessage)
    assert (item.business_side, item.business_id, item.user_id) == ("recipient", "P9", "U1")


def test_instagram_text() -> None:
    item = only_item("instagram_text.json")
    raw = fixture_event("instagram_text.json")

    assert isinstance(item, MessagingMessage)
    assert_envelope(item, raw, platform="instagram", account_id="1234567890")
    assert (item.mid, item.text, item.timestamp) == ("external_id", "Hello World", COURIER_TIME)


def test_instagram_story_mention() -> None:
    item = only_item("instagram_story_mention.json")
    raw = fixture_event("instagram_story_mention.json")

    assert isinstance(item, MessagingMessage)
    assert_envelope(item, raw, platform="instagram", account_id="1234567890")
    assert item.attachments == (
        Attachment(type="story_mention", url="https://story-url", payload={"url": "https://story-url"}),
    )
    assert item.is_story_mention is True
    assert item.mid == "external_id"


def test_instagram_story_reply() -> None:
    story = {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1", "id": "17877303"}
    raw = event("message", {"mid": "m_2", "text": "nice", "reply_to": {"story": story}})

    (item,) = parse_json(body("instagram", ("P1", [raw]))).items

    assert isinstance(item, MessagingMessage)
    assert item.reply_to_story == StoryReference(id="17877303", url=story["url"])
    assert item.is_story_reply is True
    assert item.reply_to_mid is None


def test_instagram_echo() -> None:
    item = only_item("instagram_echo.json")
    raw = fixture_event("instagram_echo.json")

    assert isinstance(item, MessagingMessage)
    assert_envelope(item, raw, platform="instagram", account_id="1234567890")
    assert (item.is_echo, item.mid) == (True, "qT7ywaK")


def test_instagram_unsent_message() -> None:
    item = only_item("instagram_unsent_deleted.json")
    raw = fixture_event("instagram_unsent_deleted.json")

    assert isinstance(item, MessagingUnsent)
    assert_envelope(item, raw, platform="instagram", account_id="1234567890")
    assert item.kind == "meta.message_unsent"
    assert item.mid == raw["message"]["mid"]
    assert raw["message"]["is_deleted"] is True
    assert item.timestamp == datetime(2019, 9, 23, 18, 14, 45, 349000, tzinfo=UTC)


def test_message_edit() -> None:
    raw = event("message_edit", {"mid": "m_3", "text": "edited text", "num_edit": 2})

    (item,) = parse_json(body("page", ("P1", [raw]))).items

    assert item == MessagingEdit(
        platform="messenger",
        path="entry[0].messaging[0]",
        account_id="P1",
        sender_id="5678",
        recipient_id="P1",
        timestamp=COURIER_TIME,
        raw=raw,
        mid="m_3",
        text="edited text",
        num_edit=2,
    )


# --- other events ---------------------------------------------------------------------------------


def test_postback_with_referral() -> None:
    item = only_item("messenger_postback.json")
    raw = fixture_event("messenger_postback.json")

    assert isinstance(item, MessagingPostback)
    assert_envelope(item, raw, platform="messenger", account_id="1234567890")
    assert item.kind == "meta.postback"
    assert (item.mid, item.title, item.payload) == (None, "postback title", "postback payload")
    assert item.referral == ReferralInfo(ref="postback ref", source="postback source", type="postback type")


def test_referral_with_a_user_ref_sender() -> None:
    item = only_item("messenger_referral.json")
    raw = fixture_event("messenger_referral.json")

    assert isinstance(item, MessagingReferral)
    assert_envelope(item, raw, platform="messenger", account_id="1234567890")
    assert item.referral == ReferralInfo(
        ref="referral id", ad_id="ad id", source="referral source", type="referral type"
    )
    assert item.sender_user_ref == raw["sender"]["user_ref"] == "5678"


def test_plugin_user_known_only_by_user_ref() -> None:
    raw = {"sender": {"user_ref": "REF1"}, "recipient": {"id": "P1"}, "timestamp": 1459991487970, "optin": {"ref": "x"}}

    (item,) = parse_json(body("page", ("P1", [raw]))).items

    assert isinstance(item, MessagingOtherEvent)
    assert (item.sender_id, item.sender_user_ref, item.user_id) == (None, "REF1", "REF1")
    assert (item.event, item.payload) == ("optin", {"ref": "x"})


def test_delivery_with_mids_and_watermark() -> None:
    item = only_item("messenger_delivery.json")
    raw = fixture_event("messenger_delivery.json")

    assert isinstance(item, MessagingDelivery)
    assert_envelope(item, raw, platform="messenger", account_id="1234567890")
    assert item.mids == ("mid.1458668856218:ed81099e15d3f4f233",)
    assert item.watermark == datetime(2016, 3, 22, 17, 47, 36, 253000, tzinfo=UTC)
    assert item.raw["delivery"]["seq"] == 37  # deprecated, not modelled


def test_read_watermark() -> None:
    item = only_item("messenger_read.json")
    raw = fixture_event("messenger_read.json")

    assert isinstance(item, MessagingRead)
    assert_envelope(item, raw, platform="messenger", account_id="<PAGE_ID>")
    assert item.watermark == datetime(2016, 3, 22, 17, 47, 36, 253000, tzinfo=UTC)
    assert item.mid is None
    assert item.timestamp == datetime(2016, 3, 22, 17, 47, 36, 463000, tzinfo=UTC)


def test_instagram_seen_carries_a_mid_instead_of_a_watermark() -> None:
    (item,) = parse_json(body("instagram", ("P1", [event("read", {"mid": "m_4"})]))).items

    assert isinstance(item, MessagingRead)
    assert (item.mid, item.watermark) == ("m_4", None)


def test_reaction() -> None:
    item = only_item("messenger_reaction.json")
    raw = fixture_event("messenger_reaction.json")

    assert isinstance(item, MessagingReaction)
    assert_envelope(item, raw, platform="messenger", account_id="<PAGE_ID>")
    assert item.mid == "<MID_OF_ReactedTo_Message>"
    assert (item.action, item.reaction, item.emoji) == ("react", "love", "\u2764\ufe0f")
    assert item.removed is False


def test_unreact() -> None:
    raw = event("reaction", {"mid": "m_5", "action": "unreact"})

    (item,) = parse_json(body("page", ("P1", [raw]))).items

    assert isinstance(item, MessagingReaction)
    assert (item.action, item.reaction, item.emoji, item.removed) == ("unreact", None, None, True)


def test_standby_events_are_items_marked_standby() -> None:
    document = body("page", ("P1", [event("message", {"mid": "m_6", "text": "hi"})]), key="standby")

    (item,) = parse_json(document).items

    assert isinstance(item, MessagingMessage)
    assert (item.path, item.is_standby, item.mid) == ("entry[0].standby[0]", True, "m_6")


def test_timestamps_in_seconds_are_normalised() -> None:
    (item,) = parse_json(body("page", ("P1", [event("message", {"mid": "m_7"}, timestamp=1459991487)]))).items

    assert isinstance(item, MessagingMessage)
    assert item.timestamp == datetime(2016, 4, 7, 1, 11, 27, tzinfo=UTC)


def test_page_feed_changes_become_channel_events() -> None:
    value = {"item": "comment", "verb": "add", "comment_id": "1_2"}
    document = {"object": "page", "entry": [{"id": "P1", "time": 1, "changes": [{"field": "feed", "value": value}]}]}

    delivery = parse_json(document)

    assert delivery.problems == ()
    assert delivery.items == (
        ChannelEventItem(platform="messenger", path="entry[0].changes[0]", account_id="P1", field="feed", value=value),
    )


# --- batches and bad items ------------------------------------------------------------------------


def test_entries_and_events_keep_document_order_and_one_bad_event_is_isolated() -> None:
    document = body(
        "page",
        ("P1", [event("message", {"mid": "m_1", "text": "a"}, recipient="P1"), event("delivery", {"watermark": 1})]),
        ("P2", [event("message", {"text": "no mid"}, recipient="P2"), event("read", {"watermark": 1}, recipient="P2")]),
    )

    delivery = parse_json(document)

    assert delivery.problems == (ParseProblem(path="entry[1].messaging[0].message.mid", reason="missing"),)
    assert [(item.kind, item.path, item.routing_id) for item in delivery.items] == [
        ("meta.message", "entry[0].messaging[0]", "P1"),
        ("meta.delivery", "entry[0].messaging[1]", "P1"),
        ("unknown", "entry[1].messaging[0]", "P2"),
        ("meta.read", "entry[1].messaging[1]", "P2"),
    ]
    assert delivery.items[2] == UnknownItem(
        platform="messenger", path="entry[1].messaging[0]", routing_id="P2", raw=document["entry"][1]["messaging"][0]
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"recipient": {"id": "P1"}, "timestamp": 1, "message": {"mid": "m"}},
            ParseProblem(path="entry[0].messaging[0].sender", reason="expected object, got null"),
        ),
        (
            {"sender": {}, "recipient": {"id": "P1"}, "timestamp": 1, "message": {"mid": "m"}},
            ParseProblem(path="entry[0].messaging[0].sender.id", reason="missing (and no user_ref)"),
        ),
        (
            {"sender": {"id": "U"}, "recipient": {"id": "P1"}, "message": {"mid": "m"}},
            ParseProblem(path="entry[0].messaging[0].timestamp", reason="missing"),
        ),
        (
            {"sender": {"id": "U"}, "recipient": {"id": "P1"}, "timestamp": "soon", "message": {"mid": "m"}},
            ParseProblem(path="entry[0].messaging[0].timestamp", reason="expected Unix time, got string"),
        ),
        (
            {"sender": {"id": "U"}, "recipient": {"id": "P1"}, "timestamp": 1},
            ParseProblem(path="entry[0].messaging[0]", reason="no event key"),
        ),
        (
            event("message", {"mid": "m", "attachments": [{"payload": {}}]}),
            ParseProblem(path="entry[0].messaging[0].message.attachments[0].type", reason="missing"),
        ),
        (
            event("delivery", {"mids": [7]}),
            ParseProblem(path="entry[0].messaging[0].delivery.mids[0]", reason="expected a non-empty mid"),
        ),
    ],
)
def test_broken_events_become_unknown_items_with_a_precise_problem(raw: dict[str, Any], problem: ParseProblem) -> None:
    delivery = parse_json(body("page", ("P1", [raw])))

    assert delivery.problems == (problem,)
    assert delivery.items == (
        UnknownItem(platform="messenger", path="entry[0].messaging[0]", routing_id="P1", raw=raw),
    )


def test_entry_without_id_is_one_unknown_item() -> None:
    document = {
        "object": "instagram",
        "entry": [{"messaging": []}, {"id": "P2", "messaging": [event("read", {"mid": "m"})]}],
    }

    delivery = parse_json(document)

    assert delivery.problems == (ParseProblem(path="entry[0].id", reason="missing"),)
    assert [(item.kind, item.path) for item in delivery.items] == [
        ("unknown", "entry[0]"),
        ("meta.read", "entry[1].messaging[0]"),
    ]


def test_entry_without_any_event_list_is_a_problem() -> None:
    delivery = parse_json({"object": "page", "entry": [{"id": "P1", "time": 1}]})

    assert delivery.items == ()
    assert delivery.problems == (ParseProblem(path="entry[0]", reason="no messaging, standby or changes"),)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_fixture(MESSAGING_FIXTURES))
def test_mutated_messaging_fixtures_never_raise(document: bytes) -> None:
    check_invariants(parse_webhook(document))
