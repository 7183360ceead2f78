"""The coexistence fields (a number on both the WhatsApp Business app and Cloud API): echoes, chat history and
address book changes, parsed from Meta's documented examples and from broken variants, then drafted as neutral
events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from messaging.providers.events import AddressBookEvent, ChannelNotice, MessageEvent, Person
from messaging.providers.items import GraphError, ParseProblem, UnknownItem
from messaging.providers.registry import delivery_events, parse_webhook
from messaging.providers.whatsapp.coexistence import wa_id_of
from messaging.providers.whatsapp.types.coexistence import (
    AddressBookEntry,
    HistoryChunk,
    HistoryMessage,
    HistoryProgress,
    MessageEcho,
)
from messaging.providers.whatsapp.types.contents import TextContent, UnknownContent
from messaging.providers.whatsapp.types.items import ValueErrorItem

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "meta"
WABA, PHONE_NUMBER_ID, BUSINESS, USER = "102290129340398", "106540352242922", "15550783881", "16505551234"
WAMID_ECHO = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
WAMID_USER = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
WAMID_BUSINESS = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MDhDRDJBOTg2QUQ5QkU1MjQA"
ROUTE = {"waba_id": WABA, "phone_number_id": PHONE_NUMBER_ID, "display_phone_number": BUSINESS}


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _body(field: str, value: dict[str, Any]) -> bytes:
    metadata = {"display_phone_number": BUSINESS, "phone_number_id": PHONE_NUMBER_ID}
    change = {"field": field, "value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [change]}]}).encode()


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- fixtures, as Meta sends them -----------------------------------------------------------------------


def test_the_fixtures_are_compact_and_escaped_as_meta_sends_them() -> None:
    for name in ("whatsapp_smb_message_echoes.json", "whatsapp_history.json", "whatsapp_smb_app_state_sync.json"):
        body = _fixture(name)
        assert b"\n" not in body and b": " not in body, name
        assert body.isascii(), name
    assert b"https:\\/\\/www.meta.com\\/quest\\/quest-3\\/" in _fixture("whatsapp_smb_message_echoes.json")
    assert b"\\u2014" in _fixture("whatsapp_history.json")


def test_an_app_echo_is_the_business_message_to_the_user_named_by_digits() -> None:
    parsed = parse_webhook(_fixture("whatsapp_smb_message_echoes.json"))

    assert parsed.problems == ()
    (echo,) = parsed.items
    assert echo == MessageEcho(
        **ROUTE,
        path="entry[0].changes[0].message_echoes[0]",
        id=WAMID_ECHO,
        to=USER,  # Meta wrote "+16505551234": the contact is the wa_id inbound messages use
        timestamp=_at(1739321024),
        type="text",
        content=TextContent(body="Here's the info you requested! https://www.meta.com/quest/quest-3/"),
        raw=json.loads(_fixture("whatsapp_smb_message_echoes.json"))["entry"][0]["changes"][0]["value"][
            "message_echoes"
        ][0],
    )
    assert (echo.is_echo, echo.routing_id) == (True, PHONE_NUMBER_ID)

    (event,) = delivery_events(parsed)
    assert isinstance(event, MessageEvent)
    assert (event.person, event.message_type, event.provider_message_id) == (
        Person(external_id=USER),
        "text",
        WAMID_ECHO,
    )
    assert (event.is_echo, event.is_coexistence, event.is_historical, event.status) == (True, True, False, None)
    assert event.content == echo.raw


def test_history_names_each_thread_message_by_its_sender_and_keeps_its_chunk_and_status() -> None:
    parsed = parse_webhook(_fixture("whatsapp_history.json"))

    assert parsed.problems == ()
    progress, user_message, business_message = parsed.items
    chunk = HistoryChunk(phase=0, chunk_order=1, progress=55)
    assert isinstance(progress, HistoryProgress)
    assert (progress.chunk, progress.threads, progress.messages) == (chunk, 1, 2)
    assert progress.path == "entry[0].changes[0].history[0].metadata"
    assert isinstance(user_message, HistoryMessage) and isinstance(business_message, HistoryMessage)
    assert (user_message.id, user_message.thread_id, user_message.from_business) == (WAMID_USER, USER, False)
    assert (user_message.timestamp, user_message.status, user_message.chunk) == (_at(1739230955), "READ", chunk)
    assert user_message.content == TextContent(body="Does it come in another color?")
    assert (business_message.id, business_message.from_business, business_message.status) == (
        WAMID_BUSINESS,
        True,
        "DELIVERED",
    )
    assert business_message.content == TextContent(
        body="Yes, it also comes in white \N{EM DASH} see https://www.meta.com/quest/quest-3/"
    )
    assert business_message.path == "entry[0].changes[0].history[0].threads[0].messages[1]"

    notice, received, sent = delivery_events(parsed)
    assert isinstance(notice, ChannelNotice)
    assert (notice.field, notice.routing_id) == ("history", PHONE_NUMBER_ID)
    assert notice.payload == {"phase": 0, "chunk_order": 1, "progress": 55, "threads": 1, "messages": 2}
    assert isinstance(received, MessageEvent) and isinstance(sent, MessageEvent)
    assert (received.person.external_id, received.is_echo, received.is_historical, received.status) == (
        USER,
        False,
        True,
        None,
    )
    assert (sent.person.external_id, sent.is_echo, sent.is_historical, sent.status) == (USER, True, True, "delivered")
    assert received.is_coexistence and sent.is_coexistence


def test_history_statuses_map_to_the_stored_ones_and_an_unknown_one_reads_as_sent() -> None:
    def status_of(meta_status: str | None) -> str | None:
        message: dict[str, Any] = {"from": BUSINESS, "to": USER, "id": "wamid.B", "timestamp": "1739231012"}
        message |= {"type": "text", "text": {"body": "hi"}}
        if meta_status is not None:
            message["history_context"] = {"status": meta_status}
        body = _body("history", {"history": [{"threads": [{"id": USER, "messages": [message]}]}]})
        (event,) = delivery_events(parse_webhook(body))
        assert isinstance(event, MessageEvent)
        return event.status

    assert [status_of(value) for value in ("DELIVERED", "READ", "PLAYED", "ERROR", "PENDING", "SENT", None)] == [
        "delivered",
        "read",
        "played",
        "failed",
        "sent",
        "sent",
        "sent",
    ]


def test_a_declined_history_is_channel_news_under_the_history_field() -> None:
    parsed = parse_webhook(_fixture("whatsapp_history_declined.json"))

    assert parsed.problems == ()
    (item,) = parsed.items
    title = "History sync is turned off by the business from the WhatsApp Business App"
    assert isinstance(item, ValueErrorItem)
    assert (item.field, item.error) == ("history", GraphError(code=2593109, title=title, message=title, details=title))
    (event,) = delivery_events(parsed)
    assert isinstance(event, ChannelNotice)
    assert (event.field, event.routing_id, event.payload["code"]) == ("history", PHONE_NUMBER_ID, 2593109)


def test_a_broken_history_message_or_thread_is_held_while_its_siblings_parse() -> None:
    good = {"from": USER, "id": "wamid.G", "timestamp": "1739230955", "type": "text", "text": {"body": "ok"}}
    threads = [
        {"id": USER, "messages": [{"from": USER, "type": "text"}, good]},
        {"messages": [good]},
        {"id": "16505550000", "messages": [{**good, "id": "wamid.M", "type": "image", "image": {}}]},
    ]
    parsed = parse_webhook(_body("history", {"history": [{"metadata": {"phase": "x"}}, {"threads": threads}]}))

    kinds = [type(item).__name__ for item in parsed.items]
    assert kinds == ["UnknownItem", "UnknownItem", "HistoryMessage", "UnknownItem", "HistoryMessage"]
    assert [problem.path for problem in parsed.problems] == [
        "entry[0].changes[0].history[0].metadata.phase",
        "entry[0].changes[0].history[1].threads[0].messages[0].id",
        "entry[0].changes[0].history[1].threads[1].id",
        "entry[0].changes[0].history[1].threads[2].messages[0].image.id",
    ]
    media_placeholder = parsed.items[-1]
    assert isinstance(media_placeholder, HistoryMessage)
    assert isinstance(media_placeholder.content, UnknownContent)  # a file Meta names no id for: kept raw, flagged
    assert isinstance(parsed.items[0], UnknownItem) and parsed.items[0].routing_id == PHONE_NUMBER_ID


def test_an_address_book_addition_and_removal_become_contact_changes() -> None:
    parsed = parse_webhook(_fixture("whatsapp_smb_app_state_sync.json"))

    assert parsed.problems == ()
    (entry,) = parsed.items
    assert isinstance(entry, AddressBookEntry)
    assert (entry.wa_id, entry.action, entry.full_name, entry.first_name, entry.timestamp) == (
        USER,
        "add",
        "Pablo Morales",
        "Pablo",
        _at(1739321024),
    )
    (event,) = delivery_events(parsed)
    assert event == AddressBookEvent(
        platform="whatsapp",
        path="entry[0].changes[0].state_sync[0]",
        routing_id=PHONE_NUMBER_ID,
        raw=entry.raw,
        person=Person(external_id=USER),
        full_name="Pablo Morales",
        first_name="Pablo",
        is_removed=False,
        timestamp=_at(1739321024),
    )

    removal = {"type": "contact", "contact": {"phone_number": "+1 650 555 1234"}, "action": "remove"}
    removal["metadata"] = {"timestamp": "1739321100"}
    (removed,) = delivery_events(parse_webhook(_body("smb_app_state_sync", {"state_sync": [removal]})))
    assert isinstance(removed, AddressBookEvent)
    assert (removed.person.external_id, removed.is_removed, removed.full_name) == (USER, True, None)


def test_an_unmodelled_state_or_action_is_a_problem_not_a_contact_change() -> None:
    states = [
        {"type": "label", "label": {"name": "VIP"}, "action": "add", "metadata": {"timestamp": "1"}},
        {"type": "contact", "contact": {"phone_number": USER}, "action": "merge", "metadata": {"timestamp": "1"}},
        {"type": "contact", "contact": {"phone_number": USER}, "action": "add"},
    ]
    parsed = parse_webhook(_body("smb_app_state_sync", {"state_sync": states}))

    assert all(isinstance(item, UnknownItem) for item in parsed.items)
    assert parsed.problems == (
        ParseProblem(path="entry[0].changes[0].state_sync[0].type", reason="unmodelled state 'label'"),
        ParseProblem(path="entry[0].changes[0].state_sync[1].action", reason="unknown action 'merge'"),
        ParseProblem(path="entry[0].changes[0].state_sync[2].metadata", reason="expected object, got null"),
    )


def test_a_coexistence_change_without_its_array_or_metadata_is_a_problem() -> None:
    no_array = parse_webhook(_body("smb_message_echoes", {}))
    assert [problem.path for problem in no_array.problems] == ["entry[0].changes[0].message_echoes"]

    document = json.loads(_body("history", {"history": []}))
    del document["entry"][0]["changes"][0]["value"]["metadata"]
    no_metadata = parse_webhook(json.dumps(document).encode())
    assert [problem.path for problem in no_metadata.problems] == ["entry[0].changes[0].metadata"]
    assert isinstance(no_metadata.items[0], UnknownItem) and no_metadata.items[0].routing_id == WABA


def test_a_person_is_named_by_the_digits_of_their_number_and_anything_else_is_kept() -> None:
    assert [wa_id_of(value) for value in ("+16505551234", "1 (650) 555-1234", "16505551234")] == [USER] * 3
    assert wa_id_of("US.13491208655302741918") == "US.13491208655302741918"
