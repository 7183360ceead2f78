"""Messenger (``object == "page"``) and Instagram (``object == "instagram"``) webhook bodies to typed items.

Both share the ``entry[].messaging[]`` envelope (``standby[]`` when another app owns the thread). Every
element becomes one item in document order, routed by ``entry.id`` (the Page / IG account). Times are
integers in milliseconds. ``entry[].changes[]`` (feed, comments…) become ``ChannelEventItem``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TypedDict

from messaging.providers.delivery import Collector, DeliveryItem, ParsedDelivery
from messaging.providers.items import ChannelEventItem, MessagingPlatform
from messaging.providers.jsonread import (
    Json,
    JsonObject,
    PayloadError,
    array,
    as_object,
    get,
    get_id,
    join,
    need,
    need_id,
    need_time,
    read_time,
)
from messaging.providers.meta_messaging.types import (
    Attachment,
    MessagingDelivery,
    MessagingEdit,
    MessagingEvent,
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

OBJECTS: dict[str, MessagingPlatform] = {"page": "messenger", "instagram": "instagram"}
OBJECT_NAMES = {platform: name for name, platform in OBJECTS.items()}
_ENVELOPE_KEYS = frozenset({"sender", "recipient", "timestamp"})


class _Envelope(TypedDict):
    platform: MessagingPlatform
    path: str
    account_id: str
    sender_id: str | None
    sender_user_ref: str | None
    recipient_id: str
    timestamp: datetime
    is_standby: bool
    raw: JsonObject


def parse_meta_messaging(document: JsonObject, *, platform: MessagingPlatform) -> ParsedDelivery:
    out = Collector()
    for path, entry in out.elements(document, "entry", "", required=True):
        _entry(entry, path, platform, out)
    return out.result(object_name=OBJECT_NAMES[platform], platform=platform)


def stored_event(event: JsonObject, *, platform: MessagingPlatform) -> MessagingEvent | None:
    """A stored event (``MessagingItem.raw``) read again as on arrival; None if it no longer parses. Its
    route (``entry.id``) is not stored with it and is left empty."""
    try:
        return _event(event, "event", platform=platform, account_id="", is_standby=False)
    except PayloadError:
        return None


def _entry(raw: Json, path: str, platform: MessagingPlatform, out: Collector) -> None:
    try:
        account_id = need_id(as_object(raw, path), "id", path)
    except PayloadError as error:
        out.reject(error, raw, path=path, platform=platform, routing_id=None)
        return
    keys = [key for key in raw if key in ("messaging", "standby", "changes")]  # document order
    if not keys:
        out.note(PayloadError(path, "no messaging, standby or changes"))
    for key in keys:
        parse: Callable[[JsonObject, str], DeliveryItem] = (
            partial(_change, platform=platform, account_id=account_id)
            if key == "changes"
            else partial(_event, platform=platform, account_id=account_id, is_standby=key == "standby")
        )
        for item_path, item in out.elements(raw, key, path):
            out.take(parse, item, path=item_path, platform=platform, routing_id=account_id)


def _change(change: JsonObject, path: str, *, platform: MessagingPlatform, account_id: str) -> ChannelEventItem:
    return ChannelEventItem(
        platform=platform,
        path=path,
        account_id=account_id,
        field=need(change, "field", path, str),
        value=as_object(change.get("value"), join(path, "value")),
    )


def _event(
    event: JsonObject, path: str, *, platform: MessagingPlatform, account_id: str, is_standby: bool
) -> MessagingEvent:
    sender = as_object(event.get("sender"), join(path, "sender"))
    envelope = _Envelope(
        platform=platform,
        path=path,
        account_id=account_id,
        sender_id=get_id(sender, "id", join(path, "sender")),
        sender_user_ref=get_id(sender, "user_ref", join(path, "sender")),
        recipient_id=need_id(as_object(event.get("recipient"), join(path, "recipient")), "id", join(path, "recipient")),
        timestamp=need_time(event, "timestamp", path, unit="ms"),
        is_standby=is_standby,
        raw=event,
    )
    if envelope["sender_id"] is None and envelope["sender_user_ref"] is None:
        raise PayloadError(join(path, "sender.id"), "missing (and no user_ref)")
    key = next((key for key in _EVENT_PARSERS if key in event), None)
    if key is not None:
        return _EVENT_PARSERS[key](as_object(event[key], join(path, key)), join(path, key), envelope)
    other = next((key for key in event if key not in _ENVELOPE_KEYS), None)
    if other is None:
        raise PayloadError(path, "no event key")
    return MessagingOtherEvent(**envelope, event=other, payload=event[other])


def _message(message: JsonObject, path: str, envelope: _Envelope) -> MessagingEvent:
    mid = need_id(message, "mid", path)
    if get(message, "is_deleted", path, bool):
        return MessagingUnsent(**envelope, mid=mid)
    reply_to = get(message, "reply_to", path, dict) or {}
    story = get(reply_to, "story", join(path, "reply_to"), dict)
    quick_reply = get(message, "quick_reply", path, dict) or {}
    return MessagingMessage(
        **envelope,
        is_echo=get(message, "is_echo", path, bool) or False,
        mid=mid,
        text=get(message, "text", path, str),
        attachments=tuple(_attachment(raw, item_path) for item_path, raw in array(message, "attachments", path)),
        quick_reply_payload=get(quick_reply, "payload", join(path, "quick_reply"), str),
        reply_to_mid=get_id(reply_to, "mid", join(path, "reply_to")),
        reply_to_story=None if story is None else _story(story, join(path, "reply_to.story")),
        app_id=get_id(message, "app_id", path),
        metadata=get(message, "metadata", path, str),
        referral=_referral(message, path),
    )


def _attachment(raw: Json, path: str) -> Attachment:
    attachment = as_object(raw, path)
    payload = get(attachment, "payload", path, dict)
    return Attachment(
        type=need(attachment, "type", path, str),
        url=get(payload, "url", join(path, "payload"), str) if payload else None,
        payload=payload,
    )


def _story(story: JsonObject, path: str) -> StoryReference:
    return StoryReference(id=get_id(story, "id", path), url=get(story, "url", path, str))


def _referral(obj: JsonObject, path: str) -> ReferralInfo | None:
    referral = get(obj, "referral", path, dict)
    return None if referral is None else _referral_info(referral, join(path, "referral"))


def _referral_info(referral: JsonObject, path: str) -> ReferralInfo:
    return ReferralInfo(
        ref=get(referral, "ref", path, str),
        source=get(referral, "source", path, str),
        type=get(referral, "type", path, str),
        ad_id=get_id(referral, "ad_id", path),
        referer_uri=get(referral, "referer_uri", path, str),
    )


def _postback(postback: JsonObject, path: str, envelope: _Envelope) -> MessagingEvent:
    return MessagingPostback(
        **envelope,
        mid=get_id(postback, "mid", path),
        title=get(postback, "title", path, str),
        payload=get(postback, "payload", path, str),
        referral=_referral(postback, path),
    )


def _referral_event(referral: JsonObject, path: str, envelope: _Envelope) -> MessagingEvent:
    return MessagingReferral(**envelope, referral=_referral_info(referral, path))


def _delivery(delivery: JsonObject, path: str, envelope: _Envelope) -> MessagingEvent:
    return MessagingDelivery(
        **envelope,
        mids=tuple(_mid(raw, mid_path) for mid_path, raw in array(delivery, "mids", path)),
        watermark=read_time(delivery, "watermark", path, unit="ms"),
    )


def _mid(raw: Json, path: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise PayloadError(path, "expected a non-empty mid")
    return raw


def _read(read: JsonObject, path: str, envelope: _Envelope) -> MessagingEvent:
    return MessagingRead(
        **envelope, watermark=read_time(read, "watermark", path, unit="ms"), mid=get_id(read, "mid", path)
    )


def _reaction(reaction: JsonObject, path: str, envelope: _Envelope) -> MessagingEvent:
    return MessagingReaction(
        **envelope,
        mid=need_id(reaction, "mid", path),
        action=need(reaction, "action", path, str),
        reaction=get(reaction, "reaction", path, str),
        emoji=get(reaction, "emoji", path, str),
    )


def _edit(edit: JsonObject, path: str, envelope: _Envelope) -> MessagingEvent:
    return MessagingEdit(
        **envelope,
        mid=need_id(edit, "mid", path),
        text=get(edit, "text", path, str),
        num_edit=get(edit, "num_edit", path, int),
    )


_EVENT_PARSERS: dict[str, Callable[[JsonObject, str, _Envelope], MessagingEvent]] = {
    "message": _message,
    "postback": _postback,
    "referral": _referral_event,
    "delivery": _delivery,
    "read": _read,
    "reaction": _reaction,
    "message_edit": _edit,
}
