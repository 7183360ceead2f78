"""The contents of a WhatsApp message, one class per kind."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import Literal, TypeAlias

from messaging.providers.jsonread import JsonObject
from messaging.providers.whatsapp.types.cards import SharedContact

MediaType: TypeAlias = Literal["image", "video", "audio", "document", "sticker"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TextContent:
    kind: Literal["text"] = dataclass_field(default="text", init=False)
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaContent:
    """A file by its media id; Meta names its type and hash for most files, but a file without them is still
    media (the hash is then Graph's, at download)."""

    kind: Literal["media"] = dataclass_field(default="media", init=False)
    type: MediaType
    media_id: str
    mime_type: str | None = None
    sha256: str | None = None
    url: str | None = None
    caption: str | None = None
    filename: str | None = None
    is_voice: bool = False
    is_animated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationContent:
    kind: Literal["location"] = dataclass_field(default="location", init=False)
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactsContent:
    kind: Literal["contacts"] = dataclass_field(default="contacts", init=False)
    contacts: tuple[SharedContact, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ButtonReplyContent:
    kind: Literal["button_reply"] = dataclass_field(default="button_reply", init=False)
    id: str
    title: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ListReplyContent:
    kind: Literal["list_reply"] = dataclass_field(default="list_reply", init=False)
    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowReplyContent:
    """``interactive.nfm_reply``: ``response_json`` is None (with a problem) when the string is not a JSON object."""

    kind: Literal["nfm_reply"] = dataclass_field(default="nfm_reply", init=False)
    name: str | None
    body: str | None
    response_json: JsonObject | None
    response_json_raw: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateButtonContent:
    """``button``: a template's quick-reply button (not ``interactive.button_reply``)."""

    kind: Literal["button"] = dataclass_field(default="button", init=False)
    payload: str | None
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionContent:
    kind: Literal["reaction"] = dataclass_field(default="reaction", init=False)
    message_id: str
    emoji: str

    @property
    def removed(self) -> bool:
        return self.emoji == ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderItem:
    product_retailer_id: str
    quantity: int
    item_price: Decimal
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderContent:
    kind: Literal["order"] = dataclass_field(default="order", init=False)
    catalog_id: str
    text: str | None
    product_items: tuple[OrderItem, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemContent:
    kind: Literal["system"] = dataclass_field(default="system", init=False)
    system_type: str | None
    body: str | None
    new_wa_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EditContent:
    """``edit``: the person edited ``original_message_id``; ``body`` is its new text body or caption."""

    kind: Literal["edit"] = dataclass_field(default="edit", init=False)
    original_message_id: str
    body: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeContent:
    """``revoke``: the person deleted ``original_message_id`` for everyone."""

    kind: Literal["revoke"] = dataclass_field(default="revoke", init=False)
    original_message_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsupportedContent:
    """``unsupported`` (formerly ``unknown``): the reasons are in the message's ``errors``."""

    kind: Literal["unsupported"] = dataclass_field(default="unsupported", init=False)
    unsupported_type: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownContent:
    """A type we do not model, or a known type whose payload did not parse: store raw, flag, never drop."""

    kind: Literal["unknown"] = dataclass_field(default="unknown", init=False)
    type: str
    raw: JsonObject
    flagged: bool = True


MessageContent: TypeAlias = (
    TextContent
    | MediaContent
    | LocationContent
    | ContactsContent
    | ButtonReplyContent
    | ListReplyContent
    | FlowReplyContent
    | TemplateButtonContent
    | ReactionContent
    | OrderContent
    | SystemContent
    | EditContent
    | RevokeContent
    | UnsupportedContent
    | UnknownContent
)
