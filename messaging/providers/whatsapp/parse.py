"""WhatsApp Cloud API webhook body (``object == "whatsapp_business_account"``) to typed items.

Every ``entry[] x changes[] x messages[]/statuses[]/errors[]`` element becomes one item, in document
order (keys of ``value`` included). A broken item becomes an ``UnknownItem`` plus a problem; a broken
optional part (context, referral, conversation, an error object, a message payload) is dropped or
flagged with a problem while the item is kept. Duplicates are kept: the database dedupes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from messaging.providers.delivery import Collector, DeliveryItem, ParsedDelivery
from messaging.providers.items import ChannelEventItem, GraphError, read_graph_error
from messaging.providers.jsonread import (
    Json,
    JsonObject,
    PayloadError,
    as_object,
    get,
    get_id,
    join,
    need,
    need_id,
    need_time,
    read_time,
)
from messaging.providers.whatsapp.accounts import ACCOUNT_FIELDS, account_update
from messaging.providers.whatsapp.coexistence import COEXISTENCE_FIELDS, FieldParser
from messaging.providers.whatsapp.contents import message_content, read_strings
from messaging.providers.whatsapp.types.items import ChannelRoute, ValueErrorItem
from messaging.providers.whatsapp.types.messages import AdReferral, InboundMessage, MessageContext, ReferredProduct
from messaging.providers.whatsapp.types.statuses import Conversation, Pricing, StatusUpdate

OBJECT = "whatsapp_business_account"


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
    entry_time = out.attempt(read_time, as_object(raw, path), "time", path, unit="s")
    for change_path, change in out.elements(raw, "changes", path, required=True):
        _change(change, change_path, waba_id, out, entry_time=entry_time)


def _change(raw: Json, path: str, waba_id: str, out: Collector, *, entry_time: datetime | None = None) -> None:
    try:
        change = as_object(raw, path)
        field = need(change, "field", path, str)
        value = as_object(change.get("value"), join(path, "value"))
        if field in ACCOUNT_FIELDS:
            out.items.append(account_update(field, value, path, waba_id, occurred_at=entry_time))
            return
        parse_field = _FIELDS.get(field)
        if parse_field is None:
            out.items.append(_channel_event(field, value, path, waba_id))
            return
        channel = _channel(value, path, waba_id)
    except PayloadError as error:
        out.reject(error, raw, path=path, platform="whatsapp", routing_id=waba_id)
        return
    parse_field(value, path, channel, out)


def _messages(value: JsonObject, path: str, channel: ChannelRoute, out: Collector) -> None:
    _items(value, path, channel, _senders(value, path, out), out)


def _channel_event(field: str, value: JsonObject, path: str, waba_id: str) -> ChannelEventItem:
    metadata = value.get("metadata")
    phone_number_id = (
        get_id(metadata, "phone_number_id", join(path, "metadata")) if isinstance(metadata, dict) else None
    )
    return ChannelEventItem(
        platform="whatsapp", path=path, account_id=waba_id, phone_number_id=phone_number_id, field=field, value=value
    )


def _channel(value: JsonObject, path: str, waba_id: str) -> ChannelRoute:
    metadata_path = join(path, "metadata")
    metadata = as_object(value.get("metadata"), metadata_path)
    return ChannelRoute(
        waba_id=waba_id,
        phone_number_id=need_id(metadata, "phone_number_id", metadata_path),
        display_phone_number=get(metadata, "display_phone_number", metadata_path, str),
    )


def _items(value: JsonObject, path: str, channel: ChannelRoute, senders: Mapping[str, _Sender], out: Collector) -> None:
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
    message: JsonObject, path: str, *, channel: ChannelRoute, senders: Mapping[str, _Sender], out: Collector
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
        content=message_content(message, message_type, path, out),
        context=out.attempt(_context, message, path),
        referral=out.attempt(_referral, message, path),
        errors=_errors(message, path, out),
        raw=message,
    )


def _status(
    status: JsonObject, path: str, *, channel: ChannelRoute, senders: Mapping[str, _Sender], out: Collector
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


def _value_error(error: JsonObject, path: str, *, channel: ChannelRoute) -> ValueErrorItem:
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
        **read_strings(referral, path, _REFERRAL_KEYS),
        source_id=get_id(referral, "source_id", path),
        welcome_message_text=get(welcome, "text", join(path, "welcome_message"), str),
    )


# The changes that carry conversations (every other field is channel news, or quarantined).
_FIELDS: dict[str, FieldParser] = {"messages": _messages, **COEXISTENCE_FIELDS}

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
