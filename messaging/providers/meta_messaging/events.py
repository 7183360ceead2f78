"""Messenger and Instagram items as neutral events (messaging.providers.events), and the files a message
refers to: on arrival from the parsed item, for a stored one through the same event parser."""

from __future__ import annotations

import hashlib
import json

from messaging.providers.events import EditOf, MediaSource, MessageEvent, Person, ReceiptEvent, UnroutableEvent
from messaging.providers.items import MessagingPlatform
from messaging.providers.jsonread import JsonObject
from messaging.providers.meta_messaging.parse import stored_event
from messaging.providers.meta_messaging.types import (
    MessagingDelivery,
    MessagingEdit,
    MessagingEvent,
    MessagingItem,
    MessagingMessage,
    MessagingRead,
    MessagingUnsent,
)


def item_event(item: MessagingEvent) -> MessageEvent | UnroutableEvent | ReceiptEvent:
    if isinstance(item, MessagingDelivery | MessagingRead):
        return receipt_event(item)
    return message_event(item)


def message_event(item: MessagingItem) -> MessageEvent | UnroutableEvent:
    """Messages, postbacks, reactions, edits, unsends and referrals, each stored as a message of its kind.

    Echoes are the business's own messages sent outside the gateway: stored as outbound, never as inbound.
    """
    if item.user_id is None:
        return UnroutableEvent(platform=item.platform, path=item.path, routing_id=item.routing_id, raw=item.raw)
    kind = str(getattr(item, "kind", "event")).removeprefix("meta.")
    return MessageEvent(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        person=Person(external_id=item.user_id),
        message_type=kind,
        provider_message_id=_event_id(item, kind),
        provider_timestamp=item.timestamp,
        content=item.raw,
        is_echo=isinstance(item, MessagingMessage) and item.is_echo,
        takes_back=item.mid if isinstance(item, MessagingUnsent) else None,
        edits=_edit_of(item),
        media=message_media(item),
    )


def _edit_of(item: MessagingItem) -> EditOf | None:
    """``message_edit``: the person's message ``mid`` now says ``text``, edited ``num_edit`` times."""
    if not isinstance(item, MessagingEdit) or item.text is None:
        return None
    return EditOf(original_id=item.mid, text=item.text, number=item.num_edit)


def _event_id(item: MessagingItem, kind: str) -> str:
    """A message's own mid; for an event about a message (reaction, edit, unsend) the mid plus a fingerprint
    of the event, so a second reaction or edit is stored too while a redelivery still matches."""
    mid = getattr(item, "mid", None)
    if kind == "message" and mid:
        return str(mid)
    canonical = json.dumps(item.raw, sort_keys=True, separators=(",", ":")).encode()
    fingerprint = hashlib.sha256(canonical).hexdigest()[:32]
    return f"{kind}:{mid}:{fingerprint}" if mid else f"{kind}:{fingerprint}"


def receipt_event(item: MessagingDelivery | MessagingRead) -> ReceiptEvent:
    """Delivery and read receipts name the business's messages, or a watermark, or both."""
    is_delivery = isinstance(item, MessagingDelivery)
    return ReceiptEvent(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        status="delivered" if is_delivery else "read",
        message_ids=item.mids if isinstance(item, MessagingDelivery) else ((item.mid,) if item.mid else ()),
        watermark=item.watermark,
        user_id=item.user_id,
        timestamp=item.timestamp,
    )


# Attachment types whose payload.url is the file itself (not a link, a template…).
MESSAGING_MEDIA_TYPES = frozenset({"image", "audio", "video", "file", "story_mention", "share", "reel", "ig_reel"})


def message_media(item: MessagingItem) -> tuple[MediaSource, ...]:
    """Every attachment's file, in order, then the story a reply answers; CDN URLs, fetched without credentials."""
    if not isinstance(item, MessagingMessage):
        return ()
    sources = [
        MediaSource(attachment.type, attachment.url, "", None)
        for attachment in item.attachments
        if attachment.type in MESSAGING_MEDIA_TYPES and attachment.url
    ]
    story = item.reply_to_story
    if story is not None and story.url:
        sources.append(MediaSource("story_reply", story.url, "", None))
    return tuple(sources)


def media_sources(content: JsonObject, platform: MessagingPlatform) -> tuple[MediaSource, ...]:
    """The files of a stored event (``MessagingItem.raw``), read by the parser its webhook went through."""
    item = stored_event(content, platform=platform)
    return () if item is None else message_media(item)
