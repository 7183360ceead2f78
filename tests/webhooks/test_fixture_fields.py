"""Every Meta fixture, posted signed to the real endpoint, checked field by field in the database and the read API.

The expectation tables below are written by hand from the fixture JSON, never computed by the parser: a parser
or storage change that moves a value shows up here as a named field. A new fixture without an entry fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import (
    Channel,
    ChannelEvent,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MetaApp,
    ParkedStatus,
    QuarantinedItem,
    StatusEvent,
)
from messaging.statuses import parked_statuses_apply
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import delivery_process
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
FIXTURE_NAMES = sorted(path.name for path in FIXTURES.glob("*.json"))
SECRET = "f" * 32
PLACEHOLDER_PAGE = b"<PAGE_ID>"
PAGE = "1234567890"  # the Messenger page / Instagram account most fixtures are addressed to
WA_TEST = "1122334455667"  # phone_number_id of the fixtures with wa_id 972987654321
WA_SHEENA = "106540352242922"  # phone_number_id of Meta's documentation examples
WA_KERRY = "1234567890"  # phone_number_id of the fixtures with wa_id 5678
CHANNELS = [
    ("whatsapp", WA_SHEENA),
    ("whatsapp", WA_TEST),
    ("whatsapp", WA_KERRY),
    ("messenger", PAGE),
    ("instagram", PAGE),
]
ABSENT = object()  # a content path that must not exist
FINGERPRINT = "[0-9a-f]{32}"  # events without an id of their own are named by a hash of the event


def _event_id(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix) + FINGERPRINT)


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- expectations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredMessage:
    channel: tuple[str, str]
    direction: str
    message_type: str
    status: str
    provider_message_id: str | re.Pattern[str]
    provider_timestamp: datetime
    contact_external_id: str
    profile_name: str | None
    content: dict[str, Any]
    is_flagged: bool = False
    is_sent_elsewhere: bool = False
    shown_type: str = ""  # the API's type, when it is not the stored one
    is_historical: bool = False

    @property
    def public_type(self) -> str:
        return self.shown_type or self.message_type

    @property
    def last_inbound_at(self) -> datetime | None:
        return self.provider_timestamp if self.direction == Direction.INBOUND else None


@dataclass(frozen=True)
class Parked:
    channel: tuple[str, str]
    provider_message_id: str
    status: str
    provider_timestamp: datetime
    errors: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Event:
    channel: tuple[str, str]
    field: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Quarantined:
    reason: str
    platform: str
    routing_id: str
    item_path: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Expected:
    outcome: dict[str, int]
    messages: tuple[StoredMessage, ...] = ()
    parked: tuple[Parked, ...] = ()
    events: tuple[Event, ...] = ()
    quarantined: tuple[Quarantined, ...] = ()
    address_book: tuple[tuple[str, dict[str, Any]], ...] = ()  # (contact's external id, profile.address_book)
    coexistence: tuple[tuple[str, str], ...] = ()  # the channels now known to share their number with the app
    other_contacts: tuple[str, ...] = ()  # people named without a message of their own (a changed number)

    @property
    def contact_ids(self) -> set[str]:
        messages = {m.contact_external_id for m in self.messages}
        return messages | {external_id for external_id, _ in self.address_book} | set(self.other_contacts)


def _wa_in(
    phone_number_id: str,
    wamid: str,
    at: int,
    message_type: str,
    sender: tuple[str, str | None],
    content: dict[str, Any],
) -> StoredMessage:
    return StoredMessage(
        channel=("whatsapp", phone_number_id),
        direction="inbound",
        message_type=message_type,
        status="received",
        provider_message_id=wamid,
        provider_timestamp=_at(at),
        contact_external_id=sender[0],
        profile_name=sender[1],
        content=content,
    )


def _meta_in(
    platform: str,
    event_id: str | re.Pattern[str],
    at_ms: int,
    message_type: str,
    user: str,
    content: dict[str, Any],
    shown_type: str = "",
) -> StoredMessage:
    return StoredMessage(
        channel=(platform, PAGE),
        direction="inbound",
        message_type=message_type,
        status="received",
        provider_message_id=event_id,
        provider_timestamp=_at(at_ms / 1000),
        contact_external_id=user,
        profile_name=None,
        content=content,
        shown_type=shown_type,
    )


def _echo(platform: str, mid: str, at_ms: int, user: str, content: dict[str, Any], shown_type: str) -> StoredMessage:
    return StoredMessage(
        channel=(platform, PAGE),
        direction="outbound",
        message_type="message",
        status="sent",
        provider_message_id=mid,
        provider_timestamp=_at(at_ms / 1000),
        contact_external_id=user,
        profile_name=None,
        content=content,
        is_sent_elsewhere=True,
        shown_type=shown_type,
    )


def _unrouted(platform: str, item: dict[str, Any]) -> Expected:
    """A fixture addressed to the literal page id ``<PAGE_ID>``: no channel has it, so it is held, not applied."""
    return Expected(
        outcome={"quarantined": 1},
        quarantined=(
            Quarantined(
                reason="no_channel",
                platform=platform,
                routing_id="<PAGE_ID>",
                item_path="entry[0].messaging[0]",
                payload=item,
            ),
        ),
    )


TEST_NAME = ("972987654321", "Test Name")
SHEENA = ("16505551234", "Sheena Nelson")
KERRY = ("5678", "Kerry Fisher")
WAMID_TEXT = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
WAMID_LIST_REPLY = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
WAMID_FAILED = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA"
MID_ECHO = "mid.1457764197618:41d102a3e1ae206a38"
MS_PAGE_EVENT = 1459991487970
STORED = {"stored": 1}

EXPECTED: dict[str, Expected] = {
    # --- WhatsApp messages --------------------------------------------------------------------------
    "whatsapp_audio_voice.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697043473,
                "audio",
                TEST_NAME,
                {
                    "audio.id": "1234567890987654321",
                    "audio.mime_type": "audio/ogg; codecs=opus",
                    "audio.sha256": "m04pFf2ERdaopTyFkGPA0+bX3i+YY2dYgVFwOgDLSDI=",
                    "audio.voice": True,
                },
            ),
        ),
    ),
    "whatsapp_button.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xsidjw",
                1698269027,
                "button",
                TEST_NAME,
                {"button.payload": "callback_data", "button.text": "title", "context.id": "wamid.xyzxyz=="},
            ),
        ),
    ),
    "whatsapp_contacts.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697044621,
                "contacts",
                TEST_NAME,
                {
                    "contacts.0.name.formatted_name": "Chandler Bing",
                    "contacts.0.phones.0.phone": "+1 555-555-5555",
                    "contacts.0.phones.0.type": "CELL",
                    "contacts.1.name.first_name": "Monica",
                    "contacts.1.name.last_name": ABSENT,
                    "contacts.2.name.formatted_name": "Rachel Green",
                    "contacts.2.phones.0.phone": "+1 777-777-7777",
                    "contacts.3": ABSENT,
                },
            ),
        ),
    ),
    "whatsapp_document.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697043666,
                "document",
                TEST_NAME,
                {
                    "document.id": "1234567890987654321",
                    "document.mime_type": "application/pdf",
                    "document.sha256": "grwfwe/ZPx0wAbdfbdeFUNItPZ0RylL8gGUvdt3YFqc18SY=",
                    "document.filename": "filename.pdf",
                    "document.caption": "caption",
                    "context.forwarded": True,
                },
            ),
        ),
    ),
    "whatsapp_duplicate_in_one_post.json": Expected(
        {"stored": 1, "duplicate": 1},
        messages=(_wa_in(WA_KERRY, "external_id", 1454119029, "text", KERRY, {"text.body": "Hello World"}),),
    ),
    "whatsapp_image.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_SHEENA,
                WAMID_TEXT,
                1744344496,
                "image",
                SHEENA,
                {
                    "image.id": "1003383421387256",
                    "image.mime_type": "image/jpeg",
                    "image.sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                    "image.caption": "Taj Mahal",
                    "image.url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133...",
                },
            ),
        ),
    ),
    "whatsapp_image_forwarded_no_url.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697043379,
                "image",
                TEST_NAME,
                {
                    "image.id": "65463453",
                    "image.mime_type": "image/jpeg",
                    "image.sha256": "4654+8g=",
                    "image.url": ABSENT,
                    "image.caption": ABSENT,
                },
            ),
        ),
    ),
    "whatsapp_interactive_button_reply.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_SHEENA,
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=",
                1750025136,
                "interactive",
                SHEENA,
                {
                    "interactive.type": "button_reply",
                    "interactive.button_reply.id": "cancel-button",
                    "interactive.button_reply.title": "Cancel",
                    "context.id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA",
                },
            ),
        ),
    ),
    "whatsapp_interactive_list_reply.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_SHEENA,
                WAMID_LIST_REPLY,
                1749854575,
                "interactive",
                SHEENA,
                {
                    "interactive.type": "list_reply",
                    "interactive.list_reply.id": "priority_express",
                    "interactive.list_reply.title": "Priority Mail Express",
                    "interactive.list_reply.description": "Next Day to 2 Days",
                },
            ),
        ),
    ),
    "whatsapp_interactive_nfm_reply.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_KERRY,
                "external_id",
                1454119029,
                "interactive",
                KERRY,
                {
                    "interactive.type": "nfm_reply",
                    "interactive.nfm_reply.name": "flow",
                    "interactive.nfm_reply.body": "Sent",
                    "interactive.nfm_reply.response_json": (
                        '{"flow_token": "fl0w+t0k3n", "first_name": "Bob", "age": "32"}'
                    ),
                },
            ),
        ),
    ),
    "whatsapp_location.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697044557,
                "location",
                TEST_NAME,
                {
                    "location.latitude": 37.4611978,
                    "location.longitude": -122.2164385,
                    "location.name": "Facebook HQ",
                    "location.address": "1 Hacker Way, Menlo Park, CA 94025",
                    "context.forwarded": True,
                },
            ),
        ),
    ),
    "whatsapp_order.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697044668,
                "order",
                TEST_NAME,
                {
                    "order.catalog_id": "354160437058781",
                    "order.text": "",
                    "order.product_items.0.product_retailer_id": "HAMBURGER",
                    "order.product_items.0.quantity": 3,
                    "order.product_items.0.item_price": 30,
                    "order.product_items.0.currency": "ILS",
                    "order.product_items.1.product_retailer_id": "FRENCH_FRIES",
                    "order.product_items.1.item_price": 35,
                    "order.product_items.2.product_retailer_id": "SODA",
                    "order.product_items.2.quantity": 2,
                    "order.product_items.3": ABSENT,
                },
            ),
        ),
    ),
    "whatsapp_reaction.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697044456,
                "reaction",
                TEST_NAME,
                {"reaction.message_id": "wamid.yzxyzx=", "reaction.emoji": "\N{FACE WITH OPEN MOUTH}"},
            ),
        ),
    ),
    "whatsapp_reaction_removed.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697044456,
                "reaction",
                TEST_NAME,
                {"reaction.message_id": "wamid.yzxyzx=", "reaction.emoji": ""},
            ),
        ),
    ),
    "whatsapp_sticker.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697043785,
                "sticker",
                TEST_NAME,
                {
                    "sticker.id": "1234567890987654321",
                    "sticker.mime_type": "image/webp",
                    "sticker.sha256": "HcwyCKrTKXHk0a00ms4HWIA76GY0Du6q4Z/iuwevw=",
                    "sticker.animated": True,
                },
            ),
        ),
    ),
    # A system message comes without value.contacts: the contact has no profile.
    "whatsapp_system_user_changed_number.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz==",
                1753851315,
                "system",
                ("972987654321", None),
                {
                    "system.type": "user_changed_number",
                    "system.wa_id": "972912345678",
                    "system.body": "User A changed from 972987654321 to 972912345678",
                },
            ),
        ),
        other_contacts=("972912345678",),
    ),
    "whatsapp_text.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_SHEENA,
                WAMID_TEXT,
                1749416383,
                "text",
                SHEENA,
                {"text.body": "Does it come in another color?", "context": ABSENT},
            ),
        ),
    ),
    # Coexistence numbers: an edit and a revoke name Meta's text example; alone, each is stored as its own event.
    "whatsapp_edit.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_SHEENA,
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ0RTJDNEY2QjE1RjI4RkQ5MUQA",
                1749416450,
                "edit",
                SHEENA,
                {
                    "edit.original_message_id": WAMID_TEXT,
                    "edit.message.text.body": "Does it come in another colour? \N{INVERTED QUESTION MARK}Y en azul?",
                },
            ),
        ),
    ),
    "whatsapp_revoke.json": Expected(
        STORED,
        messages=(
            replace(
                _wa_in(
                    WA_SHEENA,
                    "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ5QjVGQTJERTc0MzY2NDJCNjQA",
                    1749416512,
                    "revoke",
                    SHEENA,
                    {"revoke.original_message_id": WAMID_TEXT},
                ),
                shown_type="unsent",
            ),
        ),
    ),
    "whatsapp_text_ctwa_referral.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_SHEENA,
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA=",
                1750275992,
                "text",
                SHEENA,
                {
                    "text.body": "Can I get more info about this?",
                    "referral.source_type": "ad",
                    "referral.source_id": "120226305854810726",
                    "referral.source_url": "https://fb.me/3cr4Wqqkv",
                    "referral.headline": "Chat with us",
                    "referral.body": "Summer Succulents are here!",
                    "referral.media_type": "image",
                    "referral.ctwa_clid": (
                        "Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwFjN80dp4_0NiNhEgpGo0AHemvuSoifXaytfTzcchptiErTKC"
                        "qTrJ5nW1h7IHYeYymGb5K5J5iTROpBhWAGaIAeUzHL50"
                    ),
                    "referral.welcome_message.text": "Hi there! Let us know how we can help!",
                },
            ),
        ),
    ),
    "whatsapp_text_referred_product.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_SHEENA,
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA=",
                1750016800,
                "text",
                SHEENA,
                {
                    "text.body": "Is this still available?",
                    "context.referred_product.catalog_id": "194836987003835",
                    "context.referred_product.product_retailer_id": "di9ozbzfi4",
                },
            ),
        ),
    ),
    "whatsapp_text_reply_context.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697044746,
                "text",
                TEST_NAME,
                {"text.body": "replied text", "context.id": "wamid.xyzxyz==", "context.from": "972123456789"},
            ),
        ),
    ),
    # `unsupported` is a type Meta documents (the successor of `unknown`): kept with its errors, not flagged.
    "whatsapp_unsupported.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697044706,
                "unsupported",
                TEST_NAME,
                {
                    "unsupported.type": "pool",
                    "errors.0.code": 131051,
                    "errors.0.title": "Message type unknown",
                    "errors.0.error_data.details": "Message type is currently not supported.",
                },
            ),
        ),
    ),
    "whatsapp_video.json": Expected(
        STORED,
        messages=(
            _wa_in(
                WA_TEST,
                "wamid.xyzxyz",
                1697044362,
                "video",
                TEST_NAME,
                {
                    "video.id": "765756756",
                    "video.mime_type": "video/mp4",
                    "video.sha256": "Jh+2ij6PzUv/J2y+grrtegr/ZMzRxkEPwc24Oyib4s03w9Jc=",
                    "video.caption": "caption",
                    "context.forwarded": True,
                },
            ),
        ),
    ),
    # --- WhatsApp statuses for messages the gateway has not stored: parked ----------------------------
    "whatsapp_status_delivered.json": Expected(
        {"parked": 1},
        parked=(Parked(("whatsapp", WA_TEST), "wamid.xyzxyz", "delivered", _at(1698266945)),),
    ),
    "whatsapp_status_failed.json": Expected(
        {"parked": 1},
        parked=(
            Parked(
                ("whatsapp", WA_SHEENA),
                WAMID_FAILED,
                "failed",
                _at(1751142888),
                errors=((131049, "This message was not delivered to maintain healthy ecosystem engagement."),),
            ),
        ),
    ),
    "whatsapp_status_failed_experiment.json": Expected(
        {"parked": 1},
        parked=(
            Parked(
                ("whatsapp", WA_TEST),
                "wamid.xyzxyz",
                "failed",
                _at(1689380458),
                errors=((130472, "User's number is part of an experiment"),),
            ),
        ),
    ),
    "whatsapp_status_failed_legacy_shape.json": Expected(
        {"parked": 1},
        parked=(
            Parked(
                ("whatsapp", WA_KERRY),
                "external_id",
                "failed",
                _at(1454119029),
                errors=((131014, "Request for url https://URL.jpg failed with error: 404 (Not Found)"),),
            ),
        ),
    ),
    "whatsapp_status_read.json": Expected(
        {"parked": 1},
        parked=(Parked(("whatsapp", WA_SHEENA), WAMID_LIST_REPLY, "read", _at(1750030073)),),
    ),
    "whatsapp_status_sent.json": Expected(
        {"parked": 1},
        parked=(Parked(("whatsapp", WA_SHEENA), WAMID_LIST_REPLY, "sent", _at(1750030073)),),
    ),
    # --- WhatsApp value-level errors: channel news ----------------------------------------------------
    # --- WhatsApp coexistence (the number is on the WhatsApp Business app too) --------------------------
    "whatsapp_smb_message_echoes.json": Expected(
        {"echo": 1},
        messages=(
            StoredMessage(
                channel=("whatsapp", WA_SHEENA),
                direction="outbound",
                message_type="text",
                status="sent",
                provider_message_id=WAMID_LIST_REPLY,
                provider_timestamp=_at(1739321024),
                contact_external_id=SHEENA[0],  # Meta wrote "to": "+16505551234"
                profile_name=None,
                content={
                    "from": "15550783881",
                    "to": "+16505551234",
                    "text.body": "Here's the info you requested! https://www.meta.com/quest/quest-3/",
                },
                is_sent_elsewhere=True,
            ),
        ),
        coexistence=(("whatsapp", WA_SHEENA),),
    ),
    # Sent in February 2025: under the default policy (content kept 365 days) both are past their lifetime when
    # imported, so neither is stored (tests/webhooks/test_coexistence.py imports them under a longer policy).
    "whatsapp_history.json": Expected(
        {"history_expired": 2, "channel_event": 1},
        events=(
            Event(
                ("whatsapp", WA_SHEENA),
                "history",
                {"phase": 0, "chunk_order": 1, "progress": 55, "threads": 1, "messages": 2},
            ),
        ),
        coexistence=(("whatsapp", WA_SHEENA),),
    ),
    "whatsapp_history_declined.json": Expected(
        {"channel_event": 1},
        events=(
            Event(
                ("whatsapp", WA_SHEENA),
                "history",
                {
                    "code": 2593109,
                    "title": "History sync is turned off by the business from the WhatsApp Business App",
                    "message": "History sync is turned off by the business from the WhatsApp Business App",
                    "details": "History sync is turned off by the business from the WhatsApp Business App",
                    "href": None,
                },
            ),
        ),
    ),
    "whatsapp_smb_app_state_sync.json": Expected(
        {"address_book": 1},
        address_book=(
            (
                SHEENA[0],
                {
                    "full_name": "Pablo Morales",
                    "first_name": "Pablo",
                    "saved": True,
                    "synced_at": "2025-02-12T00:43:44+00:00",
                },
            ),
        ),
        coexistence=(("whatsapp", WA_SHEENA),),
    ),
    "whatsapp_errors.json": Expected(
        {"channel_event": 1},
        events=(
            Event(
                ("whatsapp", WA_SHEENA),
                "errors",
                {
                    "code": 130429,
                    "title": "Rate limit hit",
                    "message": "Rate limit hit",
                    "details": (
                        "Message failed to send because there were too many messages sent from this phone number "
                        "in a short period of time"
                    ),
                    "href": "/documentation/business-messaging/whatsapp/support/error-codes",
                },
            ),
        ),
    ),
    # --- Messenger --------------------------------------------------------------------------------------
    "messenger_attachment_image.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "messenger",
                "external_id",
                MS_PAGE_EVENT,
                "message",
                "5678",
                {
                    "message.attachments.0.type": "image",
                    "message.attachments.0.payload.url": "https://image-url/foo.png",
                    "message.text": ABSENT,
                },
                "image",
            ),
        ),
    ),
    # A delivery receipt for a message the gateway never stored changes nothing.
    # The mid names a message not stored: it waits for it; the watermark is kept for the person's messages.
    "messenger_delivery.json": Expected(
        {"receipt": 1},
        parked=(
            Parked(("messenger", PAGE), "mid.1458668856218:ed81099e15d3f4f233", "delivered", _at(MS_PAGE_EVENT / 1000)),
        ),
        other_contacts=("5678",),
    ),
    "messenger_echo.json": _unrouted(
        "messenger",
        {
            "sender": {"id": "<PSID>"},
            "recipient": {"id": "<USER_ID>"},
            "timestamp": 1457764197627,
            "message": {
                "is_echo": True,
                "app_id": 1517776481860111,
                "metadata": "<DEVELOPER_DEFINED_METADATA_STRING>",
                "mid": MID_ECHO,
                "text": "hello, world!",
            },
        },
    ),
    "messenger_echo_minimal.json": Expected(
        {"echo": 1},
        messages=(_echo("messenger", "qT7ywaK", MS_PAGE_EVENT, "5678", {"message.is_echo": True}, "unknown"),),
    ),
    "messenger_postback.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "messenger",
                _event_id("postback:"),
                MS_PAGE_EVENT,
                "postback",
                "5678",
                {
                    "postback.title": "postback title",
                    "postback.payload": "postback payload",
                    "postback.referral.ref": "postback ref",
                    "postback.referral.source": "postback source",
                    "postback.referral.type": "postback type",
                },
            ),
        ),
    ),
    "messenger_reaction.json": _unrouted(
        "messenger",
        {
            "sender": {"id": "<PSID>"},
            "recipient": {"id": "<PAGE_ID>"},
            "timestamp": 1458668856463,
            "reaction": {
                "reaction": "love",
                "emoji": "\N{HEAVY BLACK HEART}\N{VARIATION SELECTOR-16}",
                "action": "react",
                "mid": "<MID_OF_ReactedTo_Message>",
            },
        },
    ),
    # An edit of a message not stored (yet) is stored as an event of its own; it waits for that message.
    "messenger_message_edit.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "messenger",
                _event_id("message_edit:external_id:"),
                1459991490112,
                "message_edit",
                "5678",
                {
                    "message_edit.mid": "external_id",
                    "message_edit.text": "Hello World \N{EM DASH} caf\N{LATIN SMALL LETTER E WITH ACUTE} at 10:30 "
                    "\N{SLIGHTLY SMILING FACE}",
                    "message_edit.num_edit": 1,
                },
                "edit",
            ),
        ),
    ),
    "instagram_message_edit.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "instagram",
                _event_id("message_edit:external_id:"),
                1459991492004,
                "message_edit",
                "5678",
                {
                    "message_edit.mid": "external_id",
                    "message_edit.text": "Hello W\N{LATIN SMALL LETTER O WITH DIAERESIS}rld, see https://example.com/a",
                    "message_edit.num_edit": 2,
                },
                "edit",
            ),
        ),
    ),
    "messenger_read.json": _unrouted(
        "messenger",
        {
            "sender": {"id": "<PSID>"},
            "recipient": {"id": "<PAGE_ID>"},
            "timestamp": 1458668856463,
            "read": {"watermark": 1458668856253},
        },
    ),
    "messenger_referral.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "messenger",
                _event_id("referral:"),
                MS_PAGE_EVENT,
                "referral",
                "5678",
                {
                    "referral.ref": "referral id",
                    "referral.ad_id": "ad id",
                    "referral.source": "referral source",
                    "referral.type": "referral type",
                    "sender.user_ref": "5678",
                },
            ),
        ),
    ),
    "messenger_text.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "messenger",
                "external_id",
                MS_PAGE_EVENT,
                "message",
                "5678",
                {"message.text": "Hello World", "message.mid": "external_id"},
                "text",
            ),
        ),
    ),
    "messenger_text_quick_reply.json": _unrouted(
        "messenger",
        {
            "sender": {"id": "<PSID>"},
            "recipient": {"id": "<PAGE_ID>"},
            "timestamp": 1458692752478,
            "message": {
                "mid": MID_ECHO,
                "text": "hello, world!",
                "quick_reply": {"payload": "<DEVELOPER_DEFINED_PAYLOAD>"},
            },
        },
    ),
    "messenger_text_reply_to.json": _unrouted(
        "messenger",
        {
            "sender": {"id": "<PSID>"},
            "recipient": {"id": "<PAGE_ID>"},
            "timestamp": 1458692752478,
            "message": {
                "mid": "m_1457764197618:41d102a3e1ae206a38",
                "text": "hello, world!",
                "reply_to": {"mid": "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"},
            },
        },
    ),
    # --- Instagram --------------------------------------------------------------------------------------
    "instagram_echo.json": Expected(
        {"echo": 1},
        messages=(_echo("instagram", "qT7ywaK", MS_PAGE_EVENT, "5678", {"message.is_echo": True}, "unknown"),),
    ),
    "instagram_story_mention.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "instagram",
                "external_id",
                MS_PAGE_EVENT,
                "message",
                "5678",
                {
                    "message.attachments.0.type": "story_mention",
                    "message.attachments.0.payload.url": "https://story-url",
                },
                "story_mention",
            ),
        ),
    ),
    "instagram_text.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "instagram", "external_id", MS_PAGE_EVENT, "message", "5678", {"message.text": "Hello World"}, "text"
            ),
        ),
    ),
    # An unsend is its own event row, named after the message it takes back (and blanks that one's content).
    "instagram_unsent_deleted.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "instagram",
                _event_id("message_unsent:external_id:"),
                1569262485349,
                "message_unsent",
                "5678",
                {"message.mid": "external_id", "message.is_deleted": True},
                "unsent",
            ),
        ),
    ),
}

# The fixtures addressed to the literal page id `<PAGE_ID>`, posted again with that id replaced by a real page.
ROUTED_PLACEHOLDERS: dict[str, Expected] = {
    "messenger_echo.json": Expected(
        {"echo": 1},
        # An echo is the page talking: the person is the recipient.
        messages=(
            _echo(
                "messenger",
                MID_ECHO,
                1457764197627,
                "<USER_ID>",
                {
                    "message.text": "hello, world!",
                    "message.app_id": 1517776481860111,
                    "message.metadata": "<DEVELOPER_DEFINED_METADATA_STRING>",
                },
                "text",
            ),
        ),
    ),
    "messenger_reaction.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "messenger",
                _event_id("reaction:<MID_OF_ReactedTo_Message>:"),
                1458668856463,
                "reaction",
                "<PSID>",
                {
                    "reaction.action": "react",
                    "reaction.reaction": "love",
                    "reaction.emoji": "\N{HEAVY BLACK HEART}\N{VARIATION SELECTOR-16}",
                    "reaction.mid": "<MID_OF_ReactedTo_Message>",
                },
            ),
        ),
    ),
    # A read receipt with nothing sent to this person before its watermark moves nothing; it is kept for the
    # person's messages that may appear after it.
    "messenger_read.json": Expected({"receipt": 1}, other_contacts=("<PSID>",)),
    "messenger_text_quick_reply.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "messenger",
                MID_ECHO,
                1458692752478,
                "message",
                "<PSID>",
                {"message.text": "hello, world!", "message.quick_reply.payload": "<DEVELOPER_DEFINED_PAYLOAD>"},
                "text",
            ),
        ),
    ),
    "messenger_text_reply_to.json": Expected(
        STORED,
        messages=(
            _meta_in(
                "messenger",
                "m_1457764197618:41d102a3e1ae206a38",
                1458692752478,
                "message",
                "<PSID>",
                {
                    "message.text": "hello, world!",
                    "message.reply_to.mid": "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU",
                },
                "text",
            ),
        ),
    ),
}


# --- posting and reading ---------------------------------------------------------------------------


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    meta_app = meta_app_register(tenant=tenant_a, name="Fixtures", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    for platform, provider_id in CHANNELS:
        channel_add(
            tenant=tenant_a,
            meta_app=meta_app,
            platform=platform,
            provider_id=provider_id,
            access_token="t" * 40,
            actor=CLI_ACTOR,
        )
    return meta_app


@pytest.fixture
def api(tenant_a: Tenant) -> APIClient:
    issued = api_key_issue(tenant=tenant_a, name="fixtures", scopes=[ApiScope.MESSAGES_READ, ApiScope.CONTACTS_READ])
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


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
    outcome = dict(delivery_process(delivery_id=delivery.pk))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    return outcome


def _body(name: str, *, routed: bool = False) -> bytes:
    body = (FIXTURES / name).read_bytes()
    return body.replace(PLACEHOLDER_PAGE, PAGE.encode()) if routed else body


def _expected(name: str, *, routed: bool = False) -> Expected:
    table = ROUTED_PLACEHOLDERS if routed else EXPECTED
    assert name in table, f"{name} has no hand-written expectation in this module: add one"
    return table[name]


def _dig(document: Any, dotted: str) -> Any:
    """The value at ``a.b.0.c`` (digits index lists), or ABSENT."""
    value = document
    for part in dotted.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return ABSENT
    return value


def _assert_content(content: Any, expected: dict[str, Any]) -> None:
    assert isinstance(content, dict)
    for dotted, value in expected.items():
        found = _dig(content, dotted)
        assert found is value if value is ABSENT else found == value, f"content.{dotted}: {found!r} != {value!r}"
        if isinstance(value, bool | int | float) and value is not ABSENT:
            assert type(found) is type(value), f"content.{dotted} changed type: {found!r}"


def _id_matches(actual: str | None, expected: str | re.Pattern[str]) -> bool:
    if isinstance(expected, re.Pattern):
        return actual is not None and expected.fullmatch(actual) is not None
    return actual == expected


def _channel(key: tuple[str, str]) -> Channel:
    platform, provider_id = key
    return Channel.objects.get(platform=platform, provider_id=provider_id)


def _stored_message(expected: StoredMessage) -> Message:
    """The one stored message matching ``expected``'s provider id, found by decrypting every row."""
    matches: list[Message] = [
        message
        for message in Message.objects.all()
        if _id_matches(message.provider_message_id, expected.provider_message_id)
    ]
    assert len(matches) == 1, f"{expected.provider_message_id} stored {len(matches)} times"
    return matches[0]


def _assert_message_row(message: Message, expected: StoredMessage, tenant: Tenant) -> None:
    assert message.tenant == tenant
    assert message.channel == _channel(expected.channel)
    assert (message.direction, message.message_type, message.status) == (
        expected.direction,
        expected.message_type,
        expected.status,
    )
    assert (message.is_flagged, message.is_sent_elsewhere) == (expected.is_flagged, expected.is_sent_elsewhere)
    assert message.provider_timestamp == expected.provider_timestamp
    assert message.provider_timestamp.utcoffset() == timedelta(0)
    sealed = bytes(Message.objects.filter(pk=message.pk).values_list("provider_message_id", flat=True).get())
    assert message.provider_message_id.encode() not in sealed  # stored sealed, read back decrypted
    _assert_content(message.content, expected.content)
    contact = message.contact
    assert (contact.tenant, contact.platform) == (tenant, expected.channel[0])
    assert contact.external_id == expected.contact_external_id
    assert contact.profile == (None if expected.profile_name is None else {"name": expected.profile_name})
    conversation = message.conversation
    assert (conversation.channel_id, conversation.contact_id) == (message.channel_id, contact.pk)
    assert conversation.last_inbound_at == expected.last_inbound_at


def _assert_stored(expected: Expected, outcome: dict[str, int], tenant: Tenant) -> None:
    assert outcome == {**expected.outcome, "problems": 0}
    assert Message.objects.count() == len(expected.messages)
    for message_expected in expected.messages:
        _assert_message_row(_stored_message(message_expected), message_expected, tenant)
    assert Contact.objects.count() == len(expected.contact_ids)
    for external_id, address_book in expected.address_book:
        (contact,) = [row for row in Contact.objects.all() if row.external_id == external_id]
        assert (contact.tenant, contact.platform, contact.profile) == (
            tenant,
            "whatsapp",
            {"address_book": address_book},
        )
    coexistence = Channel.objects.filter(is_coexistence=True)
    assert sorted((channel.platform, channel.provider_id) for channel in coexistence) == sorted(expected.coexistence)
    assert Conversation.objects.count() == len({(m.channel, m.contact_external_id) for m in expected.messages})
    assert StatusEvent.objects.count() == 0

    parked = list(ParkedStatus.objects.all())
    assert len(parked) == len(expected.parked)
    for row, parked_expected in zip(parked, expected.parked, strict=True):
        assert row.channel == _channel(parked_expected.channel)
        assert (row.provider_message_id, row.status) == (parked_expected.provider_message_id, parked_expected.status)
        assert row.provider_timestamp == parked_expected.provider_timestamp
        assert [(error["code"], error["title"]) for error in row.errors] == list(parked_expected.errors)
        assert row.callback_data == ""

    events = list(ChannelEvent.objects.all())
    assert [(event.channel, event.field, event.payload) for event in events] == [
        (_channel(event.channel), event.field, event.payload) for event in expected.events
    ]

    held = list(QuarantinedItem.objects.all())
    assert len(held) == len(expected.quarantined)
    for row, held_expected in zip(held, expected.quarantined, strict=True):
        assert (row.reason, row.platform, row.routing_id, row.item_path) == (
            held_expected.reason,
            held_expected.platform,
            held_expected.routing_id,
            held_expected.item_path,
        )
        assert row.tenant_id == tenant.pk
        assert row.payload == {"item": held_expected.payload}


def _api_time(value: str) -> datetime:
    """An API timestamp: ISO 8601 in UTC, written with ``Z``."""
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value)


def _results(api: APIClient, url: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
    response = api.get(url, params or {})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None
    results: list[dict[str, Any]] = body["results"]
    return results


def _assert_message_api(api: APIClient, message: Message, expected: StoredMessage) -> None:
    provider_message_id = message.provider_message_id
    (listed,) = _results(api, "/api/v1/messages/", {"provider_message_id": provider_message_id})
    detail_response = api.get(f"/api/v1/messages/{message.pk}/")
    assert detail_response.status_code == 200
    detail = detail_response.json()
    assert listed == detail

    assert detail["id"] == str(message.pk)
    assert detail["channel"] == str(_channel(expected.channel).pk)
    assert (detail["conversation"], detail["contact"]) == (str(message.conversation_id), str(message.contact_id))
    assert (detail["direction"], detail["type"], detail["status"]) == (
        expected.direction,
        expected.public_type,
        expected.status,
    )
    assert (detail["is_flagged"], detail["is_sent_elsewhere"]) == (expected.is_flagged, expected.is_sent_elsewhere)
    assert detail["historical"] is expected.is_historical
    assert _id_matches(detail["provider_message_id"], expected.provider_message_id)
    assert _api_time(detail["provider_timestamp"]) == expected.provider_timestamp
    assert _api_time(detail["received_at"]) == message.received_at
    assert detail["content_unavailable"] is False
    _assert_content(detail["content"], expected.content)
    assert detail["statuses"] == []

    for params in (
        {"type": expected.public_type, "direction": expected.direction},
        {"conversation": str(message.conversation_id), "status": expected.status},
        {"contact": str(message.contact_id), "channel": detail["channel"]},
        {"since": detail["provider_timestamp"], "until": "2100-01-01T00:00:00Z"},
    ):
        assert str(message.pk) in [row["id"] for row in _results(api, "/api/v1/messages/", params)], params
    before = _results(api, "/api/v1/messages/", {"until": detail["provider_timestamp"]})  # `until` is exclusive
    assert str(message.pk) not in [row["id"] for row in before]

    contact = api.get(f"/api/v1/contacts/{message.contact_id}/").json()
    assert (contact["platform"], contact["external_id"]) == (expected.channel[0], expected.contact_external_id)
    assert contact["profile"] == (None if expected.profile_name is None else {"name": expected.profile_name})
    assert contact["content_unavailable"] is False
    (by_external_id,) = _results(api, "/api/v1/contacts/", {"external_id": expected.contact_external_id})
    assert by_external_id == contact

    conversation = api.get(f"/api/v1/conversations/{message.conversation_id}/").json()
    assert (conversation["channel"], conversation["contact"]) == (detail["channel"], detail["contact"])
    last_inbound_at = conversation["last_inbound_at"]
    assert (None if last_inbound_at is None else _api_time(last_inbound_at)) == expected.last_inbound_at

    channel = api.get(f"/api/v1/channels/{detail['channel']}/").json()
    assert (channel["platform"], channel["provider_id"]) == expected.channel
    assert channel["is_coexistence"] is (expected.is_sent_elsewhere and expected.channel[0] == "whatsapp")


def _assert_api(api: APIClient, expected: Expected) -> None:
    listed = _results(api, "/api/v1/messages/")
    assert len(listed) == len(expected.messages)
    for message_expected in expected.messages:
        _assert_message_api(api, _stored_message(message_expected), message_expected)
    contacts = _results(api, "/api/v1/contacts/")
    assert len(contacts) == Contact.objects.count()
    for external_id, address_book in expected.address_book:
        (shown,) = [contact for contact in contacts if contact["external_id"] == external_id]
        assert shown["profile"] == {"address_book": address_book}
    assert len(_results(api, "/api/v1/conversations/")) == Conversation.objects.count()


# --- every fixture ---------------------------------------------------------------------------------


def test_the_expectation_tables_cover_exactly_the_fixtures() -> None:
    placeholders = {name for name in FIXTURE_NAMES if PLACEHOLDER_PAGE in (FIXTURES / name).read_bytes()}

    assert len(FIXTURE_NAMES) >= 44
    assert sorted(EXPECTED) == FIXTURE_NAMES
    assert sorted(ROUTED_PLACEHOLDERS) == sorted(placeholders)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_is_stored_field_by_field(app: MetaApp, tenant_a: Tenant, name: str) -> None:
    expected = _expected(name)

    outcome = _post(app, _body(name))

    _assert_stored(expected, outcome, tenant_a)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_reads_back_field_by_field_through_the_api(app: MetaApp, api: APIClient, name: str) -> None:
    expected = _expected(name)

    _post(app, _body(name))

    _assert_api(api, expected)


@pytest.mark.parametrize("name", sorted(ROUTED_PLACEHOLDERS))
def test_placeholder_page_fixtures_sent_to_a_real_page_are_stored_and_read_back(
    app: MetaApp, api: APIClient, tenant_a: Tenant, name: str
) -> None:
    expected = _expected(name, routed=True)

    outcome = _post(app, _body(name, routed=True))

    _assert_stored(expected, outcome, tenant_a)
    _assert_api(api, expected)


def test_api_timestamps_are_utc_iso_strings_to_the_precision_meta_sent(app: MetaApp, api: APIClient) -> None:
    _post(app, _body("whatsapp_text.json"))
    _post(app, _body("messenger_text.json"))

    by_platform = {row["platform"]: row for row in _results(api, "/api/v1/messages/")}

    assert by_platform["whatsapp"]["provider_timestamp"] == "2025-06-08T20:59:43Z"  # "1749416383": seconds
    assert by_platform["messenger"]["provider_timestamp"] == "2016-04-07T01:11:27.970000Z"  # 1459991487970: ms


# --- statuses for messages the gateway did send ------------------------------------------------------


@dataclass(frozen=True)
class AppliedStatus:
    """A receipt applied to an outbound message stored (as accepted) before it arrived."""

    channel: tuple[str, str]
    provider_message_id: str
    recipient: str
    status: str
    provider_timestamp: datetime
    errors: tuple[dict[str, Any], ...] = ()
    pricing: dict[str, Any] | None = None
    routed: bool = False


APPLIED: dict[str, AppliedStatus] = {
    "whatsapp_status_sent.json": AppliedStatus(
        ("whatsapp", WA_SHEENA),
        WAMID_LIST_REPLY,
        "16505551234",
        "sent",
        _at(1750030073),
        pricing={"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"},
    ),
    "whatsapp_status_delivered.json": AppliedStatus(
        ("whatsapp", WA_TEST),
        "wamid.xyzxyz",
        "972987654321",
        "delivered",
        _at(1698266945),
        pricing={"billable": True, "pricing_model": "CBP", "type": None, "category": "service"},
    ),
    "whatsapp_status_read.json": AppliedStatus(
        ("whatsapp", WA_SHEENA), WAMID_LIST_REPLY, "16505551234", "read", _at(1750030073)
    ),
    "whatsapp_status_failed.json": AppliedStatus(
        ("whatsapp", WA_SHEENA),
        WAMID_FAILED,
        "16505551234",
        "failed",
        _at(1751142888),
        errors=(
            {
                "code": 131049,
                "title": "This message was not delivered to maintain healthy ecosystem engagement.",
                "message": "This message was not delivered to maintain healthy ecosystem engagement.",
                "details": "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
                "href": "/documentation/business-messaging/whatsapp/support/error-codes",
            },
        ),
    ),
    "whatsapp_status_failed_experiment.json": AppliedStatus(
        ("whatsapp", WA_TEST),
        "wamid.xyzxyz",
        "972987654321",
        "failed",
        _at(1689380458),
        errors=(
            {
                "code": 130472,
                "title": "User's number is part of an experiment",
                "message": "User's number is part of an experiment",
                "details": "Failed to send message because this user's phone number is part of an experiment",
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            },
        ),
    ),
    "whatsapp_status_failed_legacy_shape.json": AppliedStatus(
        ("whatsapp", WA_KERRY),
        "external_id",
        "5678",
        "failed",
        _at(1454119029),
        errors=(
            {
                "code": 131014,
                "title": "Request for url https://URL.jpg failed with error: 404 (Not Found)",
                "message": None,
                "details": None,
                "href": None,
            },
        ),
        pricing={"billable": False, "pricing_model": "CBP", "type": None, "category": "referral_conversion"},
    ),
    # Messenger receipts carry the envelope time; the mid names the message (delivery) or the watermark does (read).
    "messenger_delivery.json": AppliedStatus(
        ("messenger", PAGE), "mid.1458668856218:ed81099e15d3f4f233", "5678", "delivered", _at(MS_PAGE_EVENT / 1000)
    ),
    "messenger_read.json": AppliedStatus(
        ("messenger", PAGE), "m_sent_before_the_watermark", "<PSID>", "read", _at(1458668856.463), routed=True
    ),
}
PRICED = sorted(name for name, applied in APPLIED.items() if applied.pricing is not None)
WHATSAPP_STATUSES = sorted(name for name in APPLIED if name.startswith("whatsapp_"))


def _outbound(applied: AppliedStatus) -> Message:
    """What the send path stores before Meta reports on it: an accepted outbound message."""
    channel = _channel(applied.channel)
    contact = Contact.objects.create(tenant=channel.tenant, platform=channel.platform, external_id=applied.recipient)
    conversation = Conversation.objects.create(tenant=channel.tenant, channel=channel, contact=contact)
    sent_at = datetime(2016, 3, 22, 17, 0, tzinfo=UTC)  # before the Messenger read watermark
    return Message.objects.create(
        tenant=channel.tenant,
        channel=channel,
        conversation=conversation,
        contact=contact,
        direction=Direction.OUTBOUND,
        message_type="text",
        status=MessageStatus.ACCEPTED,
        received_at=timezone.now(),
        provider_timestamp=sent_at,
        provider_message_id=applied.provider_message_id,
        content={"text": {"body": "sent by the gateway"}},
    )


@pytest.mark.parametrize("name", sorted(APPLIED))
def test_a_status_for_a_stored_outbound_message_is_recorded_and_shown(app: MetaApp, api: APIClient, name: str) -> None:
    applied = APPLIED[name]
    message = _outbound(applied)

    outcome = _post(app, _body(name, routed=applied.routed))

    assert outcome == {("receipt" if applied.channel[0] != "whatsapp" else "status"): 1, "problems": 0}
    assert ParkedStatus.objects.count() == 0
    event = StatusEvent.objects.get()
    assert (event.message_id, event.status, event.provider_timestamp) == (
        message.pk,
        applied.status,
        applied.provider_timestamp,
    )
    assert event.errors == list(applied.errors)
    assert event.pricing == applied.pricing
    message.refresh_from_db()
    assert message.status == applied.status
    assert Message.objects.count() == 1  # a receipt never becomes a message

    detail = api.get(f"/api/v1/messages/{message.pk}/").json()
    assert detail["status"] == applied.status
    assert len(detail["statuses"]) == 1
    (shown,) = detail["statuses"]
    assert (shown["status"], _api_time(shown["provider_timestamp"])) == (applied.status, applied.provider_timestamp)
    assert (shown["errors"], shown["pricing"]) == (list(applied.errors), applied.pricing)


def _park_then_send(app: MetaApp, name: str) -> tuple[AppliedStatus, Message]:
    """The status arrives first (parked), then the send response lands and stores the message."""
    applied = APPLIED[name]
    assert _post(app, _body(name)) == {"parked": 1, "problems": 0}
    message = _outbound(applied)
    assert parked_statuses_apply(messages=[message]) == 1
    return applied, message


@pytest.mark.parametrize("name", WHATSAPP_STATUSES)
def test_a_parked_status_applied_when_its_message_lands_keeps_its_fields(
    app: MetaApp, api: APIClient, name: str
) -> None:
    applied, message = _park_then_send(app, name)

    assert ParkedStatus.objects.count() == 0
    event = StatusEvent.objects.get()
    assert (event.message_id, event.status, event.provider_timestamp) == (
        message.pk,
        applied.status,
        applied.provider_timestamp,
    )
    assert event.errors == list(applied.errors)
    message.refresh_from_db()
    assert message.status == applied.status
    (shown,) = api.get(f"/api/v1/messages/{message.pk}/").json()["statuses"]
    assert (shown["status"], shown["errors"]) == (applied.status, list(applied.errors))


@pytest.mark.parametrize("name", PRICED)
def test_a_parked_status_keeps_its_pricing_when_applied(app: MetaApp, name: str) -> None:
    applied, _ = _park_then_send(app, name)

    assert StatusEvent.objects.get().pricing == applied.pricing


def test_the_business_scoped_user_id_of_a_whatsapp_sender_is_kept(app: MetaApp, api: APIClient) -> None:
    _post(app, _body("whatsapp_text_reply_context.json"))

    contact = Contact.objects.get()
    assert contact.business_user_id == "US.13491208655302741918"
    assert api.get(f"/api/v1/contacts/{contact.pk}/").json()["business_user_id"] == "US.13491208655302741918"


def test_an_instagram_unsend_blanks_the_message_it_takes_back(app: MetaApp, api: APIClient) -> None:
    _post(app, _body("instagram_text.json"))
    original = Message.objects.get()

    assert _post(app, _body("instagram_unsent_deleted.json")) == {"stored": 1, "problems": 0}

    original.refresh_from_db()
    assert (original.message_type, original.content) == ("message", None)
    shown = api.get(f"/api/v1/messages/{original.pk}/").json()
    assert (shown["provider_message_id"], shown["content"]) == ("external_id", None)
    unsend = Message.objects.exclude(pk=original.pk).get()
    assert unsend.message_type == "message_unsent"
    assert unsend.content["message"] == {"mid": "external_id", "is_deleted": True}
    assert unsend.contact_id == original.contact_id


def test_statuses_named_in_the_table_are_the_status_fixtures() -> None:
    status_fixtures = {
        name
        for name in FIXTURE_NAMES
        if "statuses" in json.loads(_body(name))["entry"][0].get("changes", [{}])[0].get("value", {})
    }

    assert status_fixtures <= set(APPLIED)
    receipts_naming_messages = {"messenger_delivery.json"}
    assert {
        name for name, expected in EXPECTED.items() if expected.parked
    } == status_fixtures | receipts_naming_messages
