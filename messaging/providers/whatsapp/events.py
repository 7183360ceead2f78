"""WhatsApp items as neutral events (messaging.providers.events), and the files a message's typed content
refers to: on arrival from the parsed item, for a stored message through the same content parser."""

from __future__ import annotations

from messaging.providers.delivery import Collector
from messaging.providers.events import (
    ChannelNotice,
    EditOf,
    MediaSource,
    MessageEvent,
    Person,
    StatusEvent,
    UnroutableEvent,
)
from messaging.providers.items import GraphError
from messaging.providers.jsonread import JsonObject
from messaging.providers.whatsapp.contents import message_content
from messaging.providers.whatsapp.types import (
    EditContent,
    InboundMessage,
    MediaContent,
    MessageContent,
    RevokeContent,
    StatusUpdate,
    SystemContent,
    UnknownContent,
    ValueErrorItem,
)

WhatsAppEventItem = InboundMessage | StatusUpdate | ValueErrorItem


def item_event(item: WhatsAppEventItem) -> MessageEvent | UnroutableEvent | StatusEvent | ChannelNotice:
    if isinstance(item, InboundMessage):
        return message_event(item)
    if isinstance(item, StatusUpdate):
        return status_event(item)
    return value_error_event(item)


def message_event(item: InboundMessage) -> MessageEvent | UnroutableEvent:
    """A user known only by their business-scoped id is filed under it; one with a phone number learns it."""
    sender = item.wa_id or item.user_id
    if sender is None:
        return UnroutableEvent(platform=item.platform, path=item.path, routing_id=item.routing_id, raw=item.raw)
    return MessageEvent(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        person=Person(
            external_id=sender,
            profile_name=item.profile_name,
            business_user_id=item.user_id if item.wa_id else None,
            changed_to=_changed_to(item.content),
        ),
        message_type=item.type,
        provider_message_id=item.id,
        provider_timestamp=item.timestamp,
        content=item.raw,
        is_flagged=isinstance(item.content, UnknownContent),
        takes_back=item.content.original_message_id if isinstance(item.content, RevokeContent) else None,
        edits=_edit_of(item.content),
        media=content_media(item.content),
    )


def _edit_of(content: MessageContent) -> EditOf | None:
    """An ``edit`` names the message it changes and brings its new text; WhatsApp does not count edits, so
    each later one is the next (``EditReport.number`` counts from what is stored)."""
    if not isinstance(content, EditContent) or content.body is None:
        return None
    return EditOf(original_id=content.original_message_id, text=content.body)


def _changed_to(content: MessageContent) -> str | None:
    """A ``user_changed_number`` system message names the number the person has now."""
    if isinstance(content, SystemContent) and content.system_type == "user_changed_number":
        return content.new_wa_id
    return None


def status_event(item: StatusUpdate) -> StatusEvent:
    return StatusEvent(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        provider_message_id=item.message_id,
        status=item.status,
        provider_timestamp=item.timestamp,
        errors=tuple(error_fields(error) for error in item.errors),
        pricing=pricing_fields(item),
        callback_data=item.biz_opaque_callback_data or "",
    )


def value_error_event(item: ValueErrorItem) -> ChannelNotice:
    """An out-of-band error for the phone number is channel news under the ``errors`` field."""
    return ChannelNotice(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        field="errors",
        payload=error_fields(item.error),
    )


def error_fields(error: GraphError) -> JsonObject:
    return {key: getattr(error, key) for key in ("code", "title", "message", "details", "href")}


def pricing_fields(item: StatusUpdate) -> JsonObject | None:
    pricing = item.pricing
    if pricing is None:
        return None
    return {key: getattr(pricing, key) for key in ("billable", "pricing_model", "type", "category")}


def content_media(content: MessageContent) -> tuple[MediaSource, ...]:
    """An ``image`` … ``sticker`` message's file, by its media id (resolved through Graph at each attempt)."""
    if not isinstance(content, MediaContent):
        return ()
    return (MediaSource(content.type, content.media_id, content.mime_type or "", content.sha256 or None),)


def media_sources(content: JsonObject) -> tuple[MediaSource, ...]:
    """The files of a stored message (``InboundMessage.raw``), read by the parser its webhook went through."""
    message_type = content.get("type")
    if not isinstance(message_type, str):
        return ()
    return content_media(message_content(content, message_type, "message", Collector()))
