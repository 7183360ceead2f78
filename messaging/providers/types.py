"""Typed results of parsing one Meta webhook body, and the small JSON readers both adapters share.

Contract: ids are opaque strings, times are aware UTC datetimes, sequences are tuples, and every item
keeps its raw JSON object in ``raw`` (the source of truth for anything not modelled here). Paths read
like ``entry[0].changes[1].messages[2].timestamp``; WhatsApp's ``value`` level is left out of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, ParamSpec, TypeAlias, TypeVar

from core.jsondepth import json_decode_bounded

Json: TypeAlias = Any  # any value json.loads can return
JsonObject: TypeAlias = dict[str, Any]
Platform: TypeAlias = Literal["whatsapp", "messenger", "instagram"]
MessagingPlatform: TypeAlias = Literal["messenger", "instagram"]
MediaType: TypeAlias = Literal["image", "video", "audio", "document", "sticker"]

KNOWN_STATUSES = frozenset({"sent", "delivered", "read", "failed", "played"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseProblem:
    path: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphError:
    """Meta's error object; the legacy shape carries only ``code`` and ``title``."""

    code: int
    title: str | None = None
    message: str | None = None
    details: str | None = None
    href: str | None = None


# --- WhatsApp message content ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TextContent:
    kind: Literal["text"] = dataclass_field(default="text", init=False)
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaContent:
    kind: Literal["media"] = dataclass_field(default="media", init=False)
    type: MediaType
    media_id: str
    mime_type: str
    sha256: str
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
    """One entry of ``value.errors[]``: an out-of-band platform error for the phone number."""

    kind: Literal["whatsapp.error"] = dataclass_field(default="whatsapp.error", init=False)
    error: GraphError


# --- Messenger / Instagram items ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferralInfo:
    ref: str | None = None
    source: str | None = None
    type: str | None = None
    ad_id: str | None = None
    referer_uri: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    type: str
    url: str | None
    payload: JsonObject | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryReference:
    id: str | None
    url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingItem:
    """One ``messaging[]``/``standby[]`` event. ``account_id`` (``entry.id``) is the Page / IG account: the route."""

    platform: MessagingPlatform
    path: str
    account_id: str
    sender_id: str | None
    sender_user_ref: str | None = None
    recipient_id: str
    timestamp: datetime
    is_standby: bool = False
    is_echo: bool = False
    raw: JsonObject = dataclass_field(repr=False)

    @property
    def routing_id(self) -> str:
        return self.account_id

    @property
    def business_side(self) -> Literal["sender", "recipient"]:
        """The side that is the Page / IG account: whichever equals ``entry.id``, else the sender of an echo."""
        if self.recipient_id == self.account_id:
            return "recipient"
        if self.sender_id == self.account_id or self.is_echo:
            return "sender"
        return "recipient"

    @property
    def business_id(self) -> str | None:
        return self.sender_id if self.business_side == "sender" else self.recipient_id

    @property
    def user_id(self) -> str | None:
        """The person's PSID / IGSID (or ``user_ref`` for plugin users)."""
        if self.business_side == "sender":
            return self.recipient_id
        return self.sender_id or self.sender_user_ref


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingMessage(MessagingItem):
    kind: Literal["meta.message"] = dataclass_field(default="meta.message", init=False)
    mid: str
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    quick_reply_payload: str | None = None
    reply_to_mid: str | None = None
    reply_to_story: StoryReference | None = None
    app_id: str | None = None
    metadata: str | None = None
    referral: ReferralInfo | None = None

    @property
    def is_story_mention(self) -> bool:
        return any(attachment.type == "story_mention" for attachment in self.attachments)

    @property
    def is_story_reply(self) -> bool:
        return self.reply_to_story is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingUnsent(MessagingItem):
    """Instagram ``message.is_deleted``: the user unsent ``mid``."""

    kind: Literal["meta.message_unsent"] = dataclass_field(default="meta.message_unsent", init=False)
    mid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingEdit(MessagingItem):
    kind: Literal["meta.message_edit"] = dataclass_field(default="meta.message_edit", init=False)
    mid: str
    text: str | None
    num_edit: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingPostback(MessagingItem):
    kind: Literal["meta.postback"] = dataclass_field(default="meta.postback", init=False)
    mid: str | None
    title: str | None
    payload: str | None
    referral: ReferralInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingReferral(MessagingItem):
    kind: Literal["meta.referral"] = dataclass_field(default="meta.referral", init=False)
    referral: ReferralInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingDelivery(MessagingItem):
    """Everything sent before ``watermark`` is delivered; ``mids`` is optional."""

    kind: Literal["meta.delivery"] = dataclass_field(default="meta.delivery", init=False)
    mids: tuple[str, ...]
    watermark: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingRead(MessagingItem):
    """Messenger sends ``watermark``; Instagram ``messaging_seen`` sends ``mid``."""

    kind: Literal["meta.read"] = dataclass_field(default="meta.read", init=False)
    watermark: datetime | None
    mid: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingReaction(MessagingItem):
    kind: Literal["meta.reaction"] = dataclass_field(default="meta.reaction", init=False)
    mid: str
    action: str
    reaction: str | None
    emoji: str | None

    @property
    def removed(self) -> bool:
        return self.action == "unreact"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingOtherEvent(MessagingItem):
    """An event key we do not model (``optin``, ``pass_thread_control``…): kept raw under ``event``."""

    kind: Literal["meta.event"] = dataclass_field(default="meta.event", init=False)
    event: str
    payload: Json


# --- Shared items and the result ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEventItem:
    """A change that is not a conversation event (WhatsApp ``message_template_status_update``, Page ``feed``…)."""

    kind: Literal["channel_event"] = dataclass_field(default="channel_event", init=False)
    platform: Platform
    path: str
    account_id: str
    phone_number_id: str | None = None
    field: str
    value: JsonObject

    @property
    def routing_id(self) -> str:
        return self.phone_number_id or self.account_id

    @property
    def is_echo(self) -> bool:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownItem:
    """An item that failed to parse; its problem is in ``ParsedDelivery.problems`` under the same path prefix."""

    kind: Literal["unknown"] = dataclass_field(default="unknown", init=False)
    platform: Platform
    path: str
    routing_id: str | None
    raw: Json

    @property
    def is_echo(self) -> bool:
        return False


MessagingEvent: TypeAlias = (
    MessagingMessage
    | MessagingUnsent
    | MessagingEdit
    | MessagingPostback
    | MessagingReferral
    | MessagingDelivery
    | MessagingRead
    | MessagingReaction
    | MessagingOtherEvent
)
DeliveryItem: TypeAlias = (
    InboundMessage | StatusUpdate | ValueErrorItem | MessagingEvent | ChannelEventItem | UnknownItem
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedDelivery:
    object: str | None = None
    platform: Platform | None = None
    items: tuple[DeliveryItem, ...] = ()
    problems: tuple[ParseProblem, ...] = ()

    @property
    def has_problems(self) -> bool:
        return bool(self.problems)


# --- Reading JSON at the boundary (shared by the adapters) ----------------------------------------

T = TypeVar("T")
P = ParamSpec("P")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECONDS_FROM = 10**11  # Messenger sends ms; a smaller number can only be seconds (COURIER)
_MAX_TIME_DIGITS = 20


class PayloadError(Exception):
    """A value is missing or has the wrong JSON type at ``path``; adapters turn it into a ParseProblem."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


_JSON_NAMES: dict[type, str] = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}


def json_type(value: Json) -> str:
    return "null" if value is None else _JSON_NAMES.get(type(value), "number")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def decode_json(text: str | bytes) -> Json:
    """Strict JSON: UTF-8 only, no NaN/Infinity, nested no deeper than core.jsondepth allows; raises PayloadError
    at path ``body``."""
    try:
        decoded = text.decode() if isinstance(text, bytes) else text
        return json_decode_bounded(decoded, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise PayloadError("body", "not UTF-8") from None
    except (ValueError, RecursionError) as error:
        raise PayloadError("body", f"invalid JSON: {str(error)[:120]}") from None


def as_object(value: Json, path: str) -> JsonObject:
    if not isinstance(value, dict):
        raise PayloadError(path, f"expected object, got {json_type(value)}")
    return value


def get(obj: JsonObject, key: str, path: str, expected: type[T]) -> T | None:
    """The value at ``key`` if present and not null; a wrong JSON type raises (bool is never a number)."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise PayloadError(
            join(path, key), f"expected {_JSON_NAMES.get(expected, expected.__name__)}, got {json_type(value)}"
        )
    return value


def need(obj: JsonObject, key: str, path: str, expected: type[T]) -> T:
    value = get(obj, key, path, expected)
    if value is None:
        raise PayloadError(join(path, key), "missing")
    return value


def get_id(obj: JsonObject, key: str, path: str) -> str | None:
    """Ids are opaque strings; a JSON integer (e.g. Messenger ``app_id``) is kept as its decimal text."""
    value = obj.get(key)
    if value is None or (isinstance(value, str) and value):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise PayloadError(join(path, key), f"expected a non-empty id, got {json_type(value)}")


def need_id(obj: JsonObject, key: str, path: str) -> str:
    value = get_id(obj, key, path)
    if value is None:
        raise PayloadError(join(path, key), "missing")
    return value


def get_number(obj: JsonObject, key: str, path: str) -> Decimal | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError(join(path, key), f"expected a number, got {json_type(value)}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PayloadError(join(path, key), "expected a number") from None
    if not number.is_finite():
        raise PayloadError(join(path, key), "expected a finite number")
    return number


def need_number(obj: JsonObject, key: str, path: str) -> Decimal:
    value = get_number(obj, key, path)
    if value is None:
        raise PayloadError(join(path, key), "missing")
    return value


def array(obj: JsonObject, key: str, path: str) -> list[tuple[str, Json]]:
    """``(path, element)`` pairs of an optional array."""
    values = get(obj, key, path, list)
    return [(join(join(path, key), index), value) for index, value in enumerate(values or ())]


def read_time(obj: JsonObject, key: str, path: str, *, unit: Literal["s", "ms"]) -> datetime | None:
    """Unix time as a JSON integer or a string of digits; with ``unit="ms"`` small values are seconds."""
    value = obj.get(key)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _MAX_TIME_DIGITS:
        value = int(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(join(path, key), f"expected Unix time, got {json_type(value)}")
    in_milliseconds = unit == "ms" and abs(value) >= _MILLISECONDS_FROM
    try:
        return _EPOCH + (timedelta(milliseconds=value) if in_milliseconds else timedelta(seconds=value))
    except OverflowError:
        raise PayloadError(join(path, key), "Unix time out of range") from None


def need_time(obj: JsonObject, key: str, path: str, *, unit: Literal["s", "ms"]) -> datetime:
    value = read_time(obj, key, path, unit=unit)
    if value is None:
        raise PayloadError(join(path, key), "missing")
    return value


def read_graph_error(raw: Json, path: str) -> GraphError:
    error = as_object(raw, path)
    error_data = error.get("error_data")
    details = error_data if isinstance(error_data, str) else None  # template endpoints send a bare string
    if isinstance(error_data, dict):
        details = get(error_data, "details", join(path, "error_data"), str)
    return GraphError(
        code=need(error, "code", path, int),
        title=get(error, "title", path, str),
        message=get(error, "message", path, str),
        details=details,
        href=get(error, "href", path, str),
    )


class Collector:
    """The mutable side of one parse: items and problems in document order."""

    __slots__ = ("items", "problems")

    def __init__(self) -> None:
        self.items: list[DeliveryItem] = []
        self.problems: list[ParseProblem] = []

    def note(self, error: PayloadError) -> None:
        self.problems.append(ParseProblem(path=error.path, reason=error.reason))

    def attempt(self, parse: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        """Run a parser for an optional part: on failure, note the problem and carry on with None."""
        try:
            return parse(*args, **kwargs)
        except PayloadError as error:
            self.note(error)
            return None

    def elements(self, obj: JsonObject, key: str, path: str, *, required: bool = False) -> list[tuple[str, Json]]:
        """Like ``array`` but a wrong type (or a required key missing) is noted, not raised: siblings still parse."""
        if required and obj.get(key) is None:
            self.note(PayloadError(join(path, key), "missing"))
        return self.attempt(array, obj, key, path) or []

    def take(
        self,
        parse: Callable[[JsonObject, str], DeliveryItem],
        raw: Json,
        *,
        path: str,
        platform: Platform,
        routing_id: str | None,
    ) -> None:
        try:
            self.items.append(parse(as_object(raw, path), path))
        except PayloadError as error:
            self.reject(error, raw, path=path, platform=platform, routing_id=routing_id)

    def reject(self, error: PayloadError, raw: Json, *, path: str, platform: Platform, routing_id: str | None) -> None:
        self.note(error)
        self.items.append(UnknownItem(platform=platform, path=path, routing_id=routing_id, raw=raw))

    def result(self, *, object_name: str, platform: Platform) -> ParsedDelivery:
        return ParsedDelivery(
            object=object_name, platform=platform, items=tuple(self.items), problems=tuple(self.problems)
        )
