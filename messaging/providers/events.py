"""Neutral events: what storage sees of a parsed webhook item, whatever platform it came from.

Each adapter turns its typed items into these (``providers/<platform>/events.py``); storage files them by
kind and never looks at a platform's own types. Statuses and directions are the plain strings Meta and
storage share (``delivered``, ``read``…); ``raw`` is what a quarantine row keeps of the item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from messaging.providers.jsonread import Json, JsonObject


@dataclass(frozen=True)
class MediaSource:
    """A file a message refers to; ``mime_type`` is empty and ``expected_sha256`` None when not announced."""

    kind: str
    reference: str  # a WhatsApp media id, or a CDN URL
    mime_type: str
    expected_sha256: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Where an item came from: its platform, its place in the body and the id it is routed by."""

    platform: str
    path: str
    routing_id: str | None
    raw: Json


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """The person a message is with, as the item names them."""

    external_id: str
    profile_name: str | None = None
    business_user_id: str | None = None  # WhatsApp's business-scoped user id, sent beside a phone number
    changed_to: str | None = None  # the id the person has now, when the item says they changed it


@dataclass(frozen=True, slots=True, kw_only=True)
class EditOf:
    """An edit its author made to an earlier message: ``text`` replaces that message's text; ``number`` is how
    many times it has been edited now (Meta's ``num_edit``), None when the platform does not say."""

    original_id: str
    text: str
    number: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEvent(Event):
    """A message received, or one the business sent from elsewhere (``is_echo``); also an event about a
    message (reaction, edit, postback, referral, unsend) stored as a message of its own type.
    ``takes_back`` names the message a person unsent, ``edits`` the one they edited; ``media`` are the files
    it refers to, in order, read from its typed content (storage plans their downloads from these, never from
    the raw content).

    ``is_coexistence``: it came through the WhatsApp Business app sharing the channel's number (an app echo
    or its chat history). ``is_historical``: imported from that app's past chats, with ``status`` the state
    Meta last knew of a message the business sent (``delivered``, ``read``…), None when it told none."""

    person: Person
    message_type: str
    provider_message_id: str
    provider_timestamp: datetime
    content: Json
    is_flagged: bool = False
    is_echo: bool = False
    takes_back: str | None = None
    edits: EditOf | None = None
    media: tuple[MediaSource, ...] = ()
    is_coexistence: bool = False
    is_historical: bool = False
    status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusEvent(Event):
    """A status of one of the business's messages, with Meta's errors and pricing as plain objects."""

    provider_message_id: str
    status: str
    provider_timestamp: datetime
    errors: tuple[JsonObject, ...] = ()
    pricing: JsonObject | None = None
    callback_data: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptEvent(Event):
    """The business's messages ``delivered`` or ``read``: those named, and those up to the ``watermark``."""

    status: str
    message_ids: tuple[str, ...]
    watermark: datetime | None
    user_id: str | None
    timestamp: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressBookEvent(Event):
    """The business added, edited or removed (``is_removed``) a person in the address book of the app that
    shares the channel's number, at ``timestamp``; names as the business saved them, None on a removal."""

    person: Person
    full_name: str | None
    first_name: str | None
    is_removed: bool
    timestamp: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelNotice(Event):
    """Channel or account news that carries no customer content (template updates, quality, errors…)."""

    field: str
    payload: JsonObject


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountStanding:
    """The business account may no longer send (``is_restricted``: its channels pause), or may again, for one
    ``kind`` of measure (``ban``, ``restriction``, ``review``, ``connection``): lifting one never lifts another."""

    is_restricted: bool
    kind: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountNotice(Event):
    """News of a business account (a WhatsApp Business Account, ``routing_id`` its id), no customer content:
    recorded on every channel of the account the app reaches, then acted on by ``field``. ``messaging_limit``
    is a tier of business-initiated conversations per 24 h with its ``daily_limit`` (None: unlimited);
    ``throughput_mps`` is a send rate Meta granted."""

    field: str
    payload: JsonObject
    occurred_at: datetime | None = None  # when Meta says the change happened (a repeat is a new change)
    event: str | None = None
    phone_number: str | None = None
    quality_rating: str | None = None
    messaging_limit: str | None = None
    daily_limit: int | None = None
    throughput_mps: int | None = None
    standing: AccountStanding | None = None
    display_name: str | None = None
    display_name_status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnroutableEvent(Event):
    """A message event that names no person to file it under."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnhandledEvent(Event):
    """Something readable that storage has no place for: quarantined with ``reason``."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnreadableEvent(Event):
    """An item that did not parse: quarantined whatever it routes to."""


NeutralEvent = (
    MessageEvent
    | StatusEvent
    | ReceiptEvent
    | AddressBookEvent
    | ChannelNotice
    | AccountNotice
    | UnroutableEvent
    | UnhandledEvent
    | UnreadableEvent
)


def text_or_empty(value: object) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphMedia:
    """Where a media id's file is now (the URL lives five minutes), and what Graph says of it."""

    url: str
    mime_type: str
    sha256: str | None
    file_size: int | None


def graph_media(body: object) -> GraphMedia | None:
    """The file Graph's decoded answer names; None when it names no file URL (a permanent failure)."""
    if not isinstance(body, dict) or not text_or_empty(body.get("url")):
        return None
    size = body.get("file_size")
    return GraphMedia(
        url=body["url"],
        mime_type=text_or_empty(body.get("mime_type")),
        sha256=text_or_empty(body.get("sha256")) or None,
        file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
    )
