"""WhatsApp message contents: each ``messages[].type`` payload to its typed content."""

from __future__ import annotations

from collections.abc import Callable

from messaging.providers.delivery import Collector
from messaging.providers.jsonread import (
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
)
from messaging.providers.whatsapp import MEDIA_TYPES
from messaging.providers.whatsapp.types.cards import (
    ContactAddress,
    ContactEmail,
    ContactName,
    ContactOrg,
    ContactPhone,
    ContactUrl,
    SharedContact,
)
from messaging.providers.whatsapp.types.contents import (
    ButtonReplyContent,
    ContactsContent,
    EditContent,
    FlowReplyContent,
    ListReplyContent,
    LocationContent,
    MediaContent,
    MediaType,
    MessageContent,
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

_MEDIA_TYPES: dict[str, MediaType] = {name: name for name in MEDIA_TYPES}


def message_content(message: JsonObject, message_type: str, path: str, out: Collector) -> MessageContent:
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
        mime_type=get(media, "mime_type", path, str),
        sha256=get(media, "sha256", path, str),
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
        name=ContactName(**read_strings(get(card, "name", path, dict) or {}, join(path, "name"), _NAME_KEYS)),
        phones=tuple(ContactPhone(**part) for part in _parts(card, "phones", path, ("phone", "wa_id", "type"))),
        emails=tuple(ContactEmail(**part) for part in _parts(card, "emails", path, ("email", "type"))),
        urls=tuple(ContactUrl(**part) for part in _parts(card, "urls", path, ("url", "type"))),
        addresses=tuple(ContactAddress(**part) for part in _parts(card, "addresses", path, _ADDRESS_KEYS)),
        org=None
        if org is None
        else ContactOrg(**read_strings(org, join(path, "org"), ("company", "department", "title"))),
        birthday=get(card, "birthday", path, str),
    )


_NAME_KEYS = ("formatted_name", "first_name", "last_name", "middle_name", "prefix", "suffix")
_ADDRESS_KEYS = ("street", "city", "state", "zip", "country", "country_code", "type")


def read_strings(obj: JsonObject, path: str, keys: tuple[str, ...]) -> dict[str, str | None]:
    """The optional string members ``keys`` of ``obj``, ready to splat into a typed constructor."""
    return {key: get(obj, key, path, str) for key in keys}


def _parts(card: JsonObject, key: str, path: str, keys: tuple[str, ...]) -> list[dict[str, str | None]]:
    return [read_strings(as_object(raw, part_path), part_path, keys) for part_path, raw in array(card, key, path)]


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


def _edit(message: JsonObject, path: str, out: Collector) -> MessageContent:
    """The edited message comes whole under ``edit.message``; its text body or caption is the new text."""
    edit, path = _payload(message, "edit", path)
    edited = get(edit, "message", path, dict) or {}
    edited_type = get(edited, "type", join(path, "message"), str)
    body = get(edited, edited_type, join(path, "message"), dict) if edited_type else None
    text = None
    if body is not None:
        body_path = join(path, f"message.{edited_type}")
        text = get(body, "body", body_path, str) if edited_type == "text" else get(body, "caption", body_path, str)
    return EditContent(original_message_id=need_id(edit, "original_message_id", path), body=text)


def _revoke(message: JsonObject, path: str, out: Collector) -> MessageContent:
    revoke, path = _payload(message, "revoke", path)
    return RevokeContent(original_message_id=need_id(revoke, "original_message_id", path))


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
    "edit": _edit,
    "revoke": _revoke,
    "unsupported": _unsupported,
    "unknown": _unsupported,
}
