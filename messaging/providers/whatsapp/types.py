"""Typed WhatsApp Cloud API items: inbound messages with their contents, statuses and value errors."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from decimal import Decimal
from typing import Literal, TypeAlias, TypedDict

from messaging.providers.items import GraphError
from messaging.providers.jsonread import JsonObject

MediaType: TypeAlias = Literal["image", "video", "audio", "document", "sticker"]

KNOWN_STATUSES = frozenset({"sent", "delivered", "read", "failed", "played"})


# --- WhatsApp message content ---------------------------------------------------------------------


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
class ContactName:
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    prefix: str | None = None
    suffix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactPhone:
    phone: str | None = None
    wa_id: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactEmail:
    email: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactUrl:
    url: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactAddress:
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactOrg:
    company: str | None = None
    department: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedContact:
    """One vCard-like card from a ``contacts`` message (not the sender's profile)."""

    name: ContactName
    phones: tuple[ContactPhone, ...] = ()
    emails: tuple[ContactEmail, ...] = ()
    urls: tuple[ContactUrl, ...] = ()
    addresses: tuple[ContactAddress, ...] = ()
    org: ContactOrg | None = None
    birthday: str | None = None


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


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferredProduct:
    catalog_id: str
    product_retailer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageContext:
    """Reply (``message_id`` + ``sender``), forward flags, or a product enquiry."""

    message_id: str | None = None
    sender: str | None = None
    is_forwarded: bool = False
    is_frequently_forwarded: bool = False
    referred_product: ReferredProduct | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdReferral:
    """Click-to-WhatsApp ad; ``ctwa_clid`` is absent for Status ads."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    body: str | None = None
    headline: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None
    welcome_message_text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    id: str | None
    origin_type: str | None
    expiration: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pricing:
    billable: bool | None
    pricing_model: str | None
    type: str | None
    category: str | None


# --- WhatsApp items -------------------------------------------------------------------------------


class ChannelRoute(TypedDict):
    """The number a change is about: ``entry.id`` and the change's ``metadata``."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatsAppItem:
    """Routing: ``phone_number_id`` of the change, ``waba_id`` from ``entry.id``."""

    path: str
    waba_id: str
    phone_number_id: str
    display_phone_number: str | None
    raw: JsonObject = dataclass_field(repr=False)

    @property
    def platform(self) -> Literal["whatsapp"]:
        return "whatsapp"

    @property
    def routing_id(self) -> str:
        return self.phone_number_id

    @property
    def is_echo(self) -> bool:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage(WhatsAppItem):
    """``wa_id`` is the sender's ``from``; it may be absent for users known only by BSUID ``user_id``."""

    kind: Literal["whatsapp.message"] = dataclass_field(default="whatsapp.message", init=False)
    id: str
    wa_id: str | None
    user_id: str | None = None
    parent_user_id: str | None = None
    profile_name: str | None = None
    timestamp: datetime
    type: str
    content: MessageContent
    context: MessageContext | None = None
    referral: AdReferral | None = None
    errors: tuple[GraphError, ...] = ()

    @property
    def sender_id(self) -> str:
        return self.wa_id or self.user_id or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate(WhatsAppItem):
    """``status`` keeps unknown values as sent (see ``KNOWN_STATUSES``)."""

    kind: Literal["whatsapp.status"] = dataclass_field(default="whatsapp.status", init=False)
    message_id: str
    status: str
    timestamp: datetime
    recipient_id: str | None
    recipient_user_id: str | None = None
    biz_opaque_callback_data: str | None = None
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: tuple[GraphError, ...] = ()

    @property
    def is_known_status(self) -> bool:
        return self.status in KNOWN_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueErrorItem(WhatsAppItem):
    """One entry of ``value.errors[]``: an out-of-band platform error for the phone number; ``field`` is
    ``history`` for the error of a chat history the business declined to share."""

    kind: Literal["whatsapp.error"] = dataclass_field(default="whatsapp.error", init=False)
    error: GraphError
    field: str = "errors"


# --- coexistence (a number also used in the WhatsApp Business app) ----------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEcho(WhatsAppItem):
    """``smb_message_echoes``: a message the business sent from the WhatsApp Business app or a linked device.
    ``to`` is the user's number as digits (Meta may write it ``+16505551234``)."""

    kind: Literal["whatsapp.echo"] = dataclass_field(default="whatsapp.echo", init=False)
    id: str
    to: str
    timestamp: datetime
    type: str
    content: MessageContent

    @property
    def is_echo(self) -> bool:
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryChunk:
    """Where a ``history`` webhook sits in the import: ``phase`` 0-2, ``chunk_order``, overall ``progress`` %."""

    phase: int | None
    chunk_order: int | None
    progress: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryProgress(WhatsAppItem):
    """Where one ``history`` webhook sits in the import, with how many threads and messages it carries."""

    kind: Literal["whatsapp.history_progress"] = dataclass_field(default="whatsapp.history_progress", init=False)
    chunk: HistoryChunk
    threads: int
    messages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryMessage(WhatsAppItem):
    """One message of a ``history`` thread (the chat with ``thread_id``), sent by the user or, when
    ``from_business``, by the business from its app; ``status`` is ``history_context.status`` as sent."""

    kind: Literal["whatsapp.history"] = dataclass_field(default="whatsapp.history", init=False)
    id: str
    thread_id: str
    from_business: bool
    timestamp: datetime
    type: str
    content: MessageContent
    status: str | None
    chunk: HistoryChunk


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressBookEntry(WhatsAppItem):
    """``smb_app_state_sync`` ``contact``: the business added or edited (``add``) or removed (``remove``) a
    number in its app's address book; the names are absent on a removal."""

    kind: Literal["whatsapp.address_book"] = dataclass_field(default="whatsapp.address_book", init=False)
    wa_id: str
    action: str
    full_name: str | None
    first_name: str | None
    timestamp: datetime

    @property
    def is_removal(self) -> bool:
        return self.action == "remove"
