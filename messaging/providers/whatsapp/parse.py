"""WhatsApp Cloud API webhook body (``object == "whatsapp_business_account"``) to typed items.

Every ``entry[] x changes[] x messages[]/statuses[]/errors[]`` element becomes one item, in document
order (keys of ``value`` included). A broken item becomes an ``UnknownItem`` plus a problem; a broken
optional part (context, referral, conversation, an error object, a message payload) is dropped or
flagged with a problem while the item is kept. Duplicates are kept: the database dedupes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TypedDict

from messaging.providers.delivery import Collector, DeliveryItem, ParsedDelivery
from messaging.providers.items import ChannelEventItem, GraphError, read_graph_error
from messaging.providers.jsonread import (
    Json,
    JsonObject,
    PayloadError,
    array,
    as_object,
    decode_json,
    get,
    get_id,
    join,
    need,
    need_id,
    need_number,
    need_time,
    read_time,
)
from messaging.providers.whatsapp import MEDIA_TYPES
from messaging.providers.whatsapp.types import (
    AdReferral,
    ButtonReplyContent,
    ContactAddress,
    ContactEmail,
    ContactName,
    ContactOrg,
    ContactPhone,
    ContactsContent,
    ContactUrl,
    Conversation,
    FlowReplyContent,
    InboundMessage,
    ListReplyContent,
    LocationContent,
    MediaContent,
    MediaType,
    MessageContent,
    MessageContext,
    OrderContent,
    OrderItem,
    Pricing,
    ReactionContent,
    ReferredProduct,
    SharedContact,
    StatusUpdate,
    SystemContent,
    TemplateButtonContent,
    TextContent,
    UnknownContent,
    UnsupportedContent,
    ValueErrorItem,
)

OBJECT = "whatsapp_business_account"
_MEDIA_TYPES: dict[str, MediaType] = {name: name for name in MEDIA_TYPES}


class _Channel(TypedDict):
    waba_id: str
    phone_number_id: str
    display_phone_number: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Sender:
    """One ``value.contacts[]`` row: the profile of the user behind a message or status."""

    wa_id: str | None
    user_id: str | None
    parent_user_id: str | None
    profile_name: str | None


def parse_whatsapp(document: JsonObject) -> ParsedDelivery:
    out = Collector()
    for path, entry in out.elements(document, "entry", "", required=True):
        _entry(entry, path, out)
    return out.result(object_name=OBJECT, platform="whatsapp")


def _entry(raw: Json, path: str, out: Collector) -> None:
    try:
        waba_id = need_id(as_object(raw, path), "id", path)
    except PayloadError as error:
        out.reject(error, raw, path=path, platform="whatsapp", routing_id=None)
        return
    for change_path, change in out.elements(raw, "changes", path, required=True):
        _change(change, change_path, waba_id, out)


def _change(raw: Json, path: str, waba_id: str, out: Collector) -> None:
    try:
        change = as_object(raw, path)
        field = need(change, "field", path, str)
        value = as_object(change.get("value"), join(path, "value"))
        if field != "messages":
            out.items.append(_channel_event(field, value, path, waba_id))
            return
        channel = _channel(value, path, waba_id)
    except PayloadError as error:
        out.reject(error, raw, path=path, platform="whatsapp", routing_id=waba_id)
        return
    senders = _senders(value, path, out)
    _items(value, path, channel, senders, out)


def _channel_event(field: str, value: JsonObject, path: str, waba_id: str) -> ChannelEventItem:
    metadata = value.get("metadata")
    phone_number_id = (
        get_id(metadata, "phone_number_id", join(path, "metadata")) if isinstance(metadata, dict) else None
    )
    return ChannelEventItem(
        platform="whatsapp", path=path, account_id=waba_id, phone_number_id=phone_number_id, field=field, value=value
    )


def _channel(value: JsonObject, path: str, waba_id: str) -> _Channel:
    metadata_path = join(path, "metadata")
    metadata = as_object(value.get("metadata"), metadata_path)
    return _Channel(
        waba_id=waba_id,
        phone_number_id=need_id(metadata, "phone_number_id", metadata_path),
        display_phone_number=get(metadata, "display_phone_number", metadata_path, str),
    )


def _items(value: JsonObject, path: str, channel: _Channel, senders: Mapping[str, _Sender], out: Collector) -> None:
    parsers: dict[str, Callable[[JsonObject, str], DeliveryItem]] = {
        "messages": partial(_inbound_message, channel=channel, senders=senders, out=out),
        "statuses": partial(_status, channel=channel, senders=senders, out=out),
        "errors": partial(_value_error, channel=channel),
    }
    present = [key for key in value if key in parsers]  # document order, not our order
    if not present:
        out.note(PayloadError(path, "no messages, statuses or errors"))
    for key in present:
        for item_path, item in out.elements(value, key, path):
            out.take(parsers[key], item, path=item_path, platform="whatsapp", routing_id=channel["phone_number_id"])


def _senders(value: JsonObject, path: str, out: Collector) -> dict[str, _Sender]:
    """``value.contacts[]`` keyed by ``wa_id`` and by BSUID ``user_id``; absent for ``system`` messages."""
    senders: dict[str, _Sender] = {}
    for contact_path, raw in out.elements(value, "contacts", path):
        sender = out.attempt(_sender, raw, contact_path)
        if sender is not None:
            for key in filter(None, (sender.wa_id, sender.user_id)):
                senders.setdefault(key, sender)
    return senders


def _sender(raw: Json, path: str) -> _Sender:
    contact = as_object(raw, path)
    profile = get(contact, "profile", path, dict) or {}
    return _Sender(
        wa_id=get_id(contact, "wa_id", path),
        user_id=get_id(contact, "user_id", path),
        parent_user_id=get_id(contact, "parent_user_id", path),
        profile_name=get(profile, "name", join(path, "profile"), str),
    )


# --- items ----------------------------------------------------------------------------------------


def _inbound_message(
    message: JsonObject, path: str, *, channel: _Channel, senders: Mapping[str, _Sender], out: Collector
) -> InboundMessage:
    wa_id = get_id(message, "from", path)
    user_id = get_id(message, "from_user_id", path)
    if wa_id is None and user_id is None:
        raise PayloadError(join(path, "from"), "missing (and no from_user_id)")
    sender = senders.get(wa_id or "") or senders.get(user_id or "")
    message_type = need(message, "type", path, str)
    return InboundMessage(
        **channel,
        path=path,
        id=need_id(message, "id", path),
        wa_id=wa_id,
        user_id=user_id or (sender.user_id if sender else None),
        parent_user_id=get_id(message, "from_parent_user_id", path) or (sender.parent_user_id if sender else None),
        profile_name=sender.profile_name if sender else None,
        timestamp=need_time(message, "timestamp", path, unit="s"),
        type=message_type,
        content=_content(message, message_type, path, out),
        context=out.attempt(_context, message, path),
        referral=out.attempt(_referral, message, path),
        errors=_errors(message, path, out),
        raw=message,
    )


def _status(
    status: JsonObject, path: str, *, channel: _Channel, senders: Mapping[str, _Sender], out: Collector
) -> StatusUpdate:
    recipient_id = get_id(status, "recipient_id", path)
    sender = senders.get(recipient_id or "")
    return StatusUpdate(
        **channel,
        path=path,
        message_id=need_id(status, "id", path),
        status=need(status, "status", path, str),
        timestamp=need_time(status, "timestamp", path, unit="s"),
        recipient_id=recipient_id,
        recipient_user_id=get_id(status, "recipient_user_id", path) or (sender.user_id if sender else None),
        biz_opaque_callback_data=get(status, "biz_opaque_callback_data", path, str),
        conversation=out.attempt(_conversation, status, path),
        pricing=out.attempt(_pricing, status, path),
        errors=_errors(status, path, out),
        raw=status,
    )


def _value_error(error: JsonObject, path: str, *, channel: _Channel) -> ValueErrorItem:
    return ValueErrorItem(**channel, path=path, error=read_graph_error(error, path), raw=error)


def _errors(obj: JsonObject, path: str, out: Collector) -> tuple[GraphError, ...]:
    errors = (out.attempt(read_graph_error, raw, error_path) for error_path, raw in out.elements(obj, "errors", path))
    return tuple(error for error in errors if error is not None)


def _conversation(status: JsonObject, path: str) -> Conversation | None:
    conversation = get(status, "conversation", path, dict)
    if conversation is None:
        return None
    path = join(path, "conversation")
    origin = get(conversation, "origin", path, dict) or {}
    return Conversation(
        id=get_id(conversation, "id", path),
        origin_type=get(origin, "type", join(path, "origin"), str),
        expiration=read_time(conversation, "expiration_timestamp", path, unit="s"),
    )


def _pricing(status: JsonObject, path: str) -> Pricing | None:
    pricing = get(status, "pricing", path, dict)
    if pricing is None:
        return None
    path = join(path, "pricing")
    return Pricing(
        billable=get(pricing, "billable", path, bool),
        pricing_model=get(pricing, "pricing_model", path, str),
        type=get(pricing, "type", path, str),
        category=get(pricing, "category", path, str),
    )


def _context(message: JsonObject, path: str) -> MessageContext | None:
    context = get(message, "context", path, dict)
    if context is None:
        return None
    path = join(path, "context")
    product = get(context, "referred_product", path, dict)
    product_path = join(path, "referred_product")
    return MessageContext(
        message_id=get_id(context, "id", path),
        sender=get_id(context, "from", path),
        is_forwarded=get(context, "forwarded", path, bool) or False,
        is_frequently_forwarded=get(context, "frequently_forwarded", path, bool) or False,
        referred_product=None
        if product is None
        else ReferredProduct(
            catalog_id=need_id(product, "catalog_id", product_path),
            product_retailer_id=need_id(product, "product_retailer_id", product_path),
        ),
    )


def _referral(message: JsonObject, path: str) -> AdReferral | None:
    referral = get(message, "referral", path, dict)
    if referral is None:
        return None
    path = join(path, "referral")
    welcome = get(referral, "welcome_message", path, dict) or {}
    return AdReferral(
        **_strings(referral, path, _REFERRAL_KEYS),
        source_id=get_id(referral, "source_id", path),
        welcome_message_text=get(welcome, "text", join(path, "welcome_message"), str),
    )


_REFERRAL_KEYS = (
    "source_url",
    "source_type",
    "body",
    "headline",
    "media_type",
    "image_url",
    "video_url",
    "thumbnail_url",
    "ctwa_clid",
)


# --- message content ------------------------------------------------------------------------------


def _content(message: JsonObject, message_type: str, path: str, out: Collector) -> MessageContent:
    """The typed payload; an unknown type, or a known one that does not parse, is kept raw and flagged."""
    parse = _CONTENT_PARSERS.get(message_type)
    content = out.attempt(parse, message, path, out) if parse else None
    return UnknownContent(type=message_type, raw=message) if content is None else content


def _payload(message: JsonObject, key: str, path: str) -> tuple[JsonObject, str]:
    return as_object(message.get(key), join(path, key)), join(path, key)


def _text(message: JsonObject, path: str, out: Collector) -> MessageContent:
    text, path = _payload(message, "text", path)
    return TextContent(body=need(text, "body", path, str))


def _media(message: JsonObject, path: str, out: Collector) -> MessageContent:
    media_type = _MEDIA_TYPES[message["type"]]
    media, path = _payload(message, media_type, path)
    return MediaContent(
        type=media_type,
        media_id=need_id(media, "id", path),
        mime_type=need(media, "mime_type", path, str),
        sha256=need(media, "sha256", path, str),
        url=get(media, "url", path, str),
        caption=get(media, "caption", path, str),
        filename=get(media, "filename", path, str),
        is_voice=get(media, "voice", path, bool) or False,
        is_animated=get(media, "animated", path, bool) or False,
    )


def _location(message: JsonObject, path: str, out: Collector) -> MessageContent:
    location, path = _payload(message, "location", path)
    return LocationContent(
        latitude=float(need_number(location, "latitude", path)),
        longitude=float(need_number(location, "longitude", path)),
        name=get(location, "name", path, str),
        address=get(location, "address", path, str),
        url=get(location, "url", path, str),
    )


def _contacts(message: JsonObject, path: str, out: Collector) -> MessageContent:
    cards = array(message, "contacts", path)
    return ContactsContent(
        contacts=tuple(_shared_contact(as_object(raw, card_path), card_path) for card_path, raw in cards)
    )


def _shared_contact(card: JsonObject, path: str) -> SharedContact:
    org = get(card, "org", path, dict)
    return SharedContact(
        name=ContactName(**_strings(get(card, "name", path, dict) or {}, join(path, "name"), _NAME_KEYS)),
        phones=tuple(ContactPhone(**part) for part in _parts(card, "phones", path, ("phone", "wa_id", "type"))),
        emails=tuple(ContactEmail(**part) for part in _parts(card, "emails", path, ("email", "type"))),
        urls=tuple(ContactUrl(**part) for part in _parts(card, "urls", path, ("url", "type"))),
        addresses=tuple(ContactAddress(**part) for part in _parts(card, "addresses", path, _ADDRESS_KEYS)),
        org=None if org is None else ContactOrg(**_strings(org, join(path, "org"), ("company", "department", "title"))),
        birthday=get(card, "birthday", path, str),
    )


_NAME_KEYS = ("formatted_name", "first_name", "last_name", "middle_name", "prefix", "suffix")
_ADDRESS_KEYS = ("street", "city", "state", "zip", "country", "country_code", "type")


def _strings(obj: JsonObject, path: str, keys: tuple[str, ...]) -> dict[str, str | None]:
    """The optional string members ``keys`` of ``obj``, ready to splat into a typed constructor."""
    return {key: get(obj, key, path, str) for key in keys}


def _parts(card: JsonObject, key: str, path: str, keys: tuple[str, ...]) -> list[dict[str, str | None]]:
    return [_strings(as_object(raw, part_path), part_path, keys) for part_path, raw in array(card, key, path)]


def _interactive(message: JsonObject, path: str, out: Collector) -> MessageContent:
    interactive, path = _payload(message, "interactive", path)
    reply_type = need(interactive, "type", path, str)
    if reply_type not in ("button_reply", "list_reply", "nfm_reply"):
        return UnknownContent(type=f"interactive.{reply_type}", raw=message)
    reply, path = _payload(interactive, reply_type, path)
    if reply_type == "button_reply":
        return ButtonReplyContent(id=need_id(reply, "id", path), title=need(reply, "title", path, str))
    if reply_type == "list_reply":
        return ListReplyContent(
            id=need_id(reply, "id", path),
            title=need(reply, "title", path, str),
            description=get(reply, "description", path, str),
        )
    return _flow_reply(reply, path, out)


def _flow_reply(reply: JsonObject, path: str, out: Collector) -> FlowReplyContent:
    """``response_json`` is a JSON *string*; a bad one is kept raw with a problem, the message survives."""
    raw_json = need(reply, "response_json", path, str)
    try:
        response = decode_json(raw_json)
    except PayloadError:
        response = None
    if not isinstance(response, dict):
        out.note(PayloadError(join(path, "response_json"), "not a JSON object string"))
    return FlowReplyContent(
        name=get(reply, "name", path, str),
        body=get(reply, "body", path, str),
        response_json=response if isinstance(response, dict) else None,
        response_json_raw=raw_json,
    )


def _template_button(message: JsonObject, path: str, out: Collector) -> MessageContent:
    button, path = _payload(message, "button", path)
    return TemplateButtonContent(payload=get(button, "payload", path, str), text=need(button, "text", path, str))


def _reaction(message: JsonObject, path: str, out: Collector) -> MessageContent:
    reaction, path = _payload(message, "reaction", path)
    return ReactionContent(
        message_id=need_id(reaction, "message_id", path), emoji=get(reaction, "emoji", path, str) or ""
    )


def _order(message: JsonObject, path: str, out: Collector) -> MessageContent:
    order, path = _payload(message, "order", path)
    return OrderContent(
        catalog_id=need_id(order, "catalog_id", path),
        text=get(order, "text", path, str),
        product_items=tuple(_order_item(as_object(raw, p), p) for p, raw in array(order, "product_items", path)),
    )


def _order_item(item: JsonObject, path: str) -> OrderItem:
    return OrderItem(
        product_retailer_id=need_id(item, "product_retailer_id", path),
        quantity=need(item, "quantity", path, int),
        item_price=need_number(item, "item_price", path),
        currency=need(item, "currency", path, str),
    )


def _system(message: JsonObject, path: str, out: Collector) -> MessageContent:
    system, path = _payload(message, "system", path)
    return SystemContent(
        system_type=get(system, "type", path, str),
        body=get(system, "body", path, str),
        new_wa_id=get_id(system, "wa_id", path) or get_id(system, "new_wa_id", path),
    )


def _unsupported(message: JsonObject, path: str, out: Collector) -> MessageContent:
    unsupported = get(message, "unsupported", path, dict) or {}
    return UnsupportedContent(unsupported_type=get(unsupported, "type", join(path, "unsupported"), str))


_CONTENT_PARSERS: dict[str, Callable[[JsonObject, str, Collector], MessageContent]] = {
    "text": _text,
    **dict.fromkeys(_MEDIA_TYPES, _media),
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _template_button,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
    "unsupported": _unsupported,
    "unknown": _unsupported,
}
