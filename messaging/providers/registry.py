"""The way into the providers: which adapter speaks for a platform, which parser reads a webhook ``object``
(``parse_webhook``), and every parsed item as the neutral event storage writes (``delivery_events``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from messaging.providers.adapter import Adapter, Platform
from messaging.providers.delivery import DeliveryItem, ParsedDelivery
from messaging.providers.events import ChannelNotice, MediaSource, NeutralEvent, UnhandledEvent, UnreadableEvent
from messaging.providers.items import ChannelEventItem, ParseProblem, UnknownItem
from messaging.providers.jsonread import JsonObject, PayloadError, decode_json
from messaging.providers.meta_messaging.adapter import MetaMessagingAdapter
from messaging.providers.representation import UNKNOWN_MESSAGE, PublicMessage
from messaging.providers.sending import SendRequest
from messaging.providers.whatsapp.adapter import WhatsAppAdapter

ADAPTERS: dict[Platform, Adapter] = {
    Platform.WHATSAPP: WhatsAppAdapter(),
    Platform.MESSENGER: MetaMessagingAdapter("messenger"),
    Platform.INSTAGRAM: MetaMessagingAdapter("instagram"),
}
PARSERS: dict[str, Callable[[JsonObject], ParsedDelivery]] = {
    adapter.webhook_object: adapter.parse for adapter in ADAPTERS.values()
}
# Every type any platform sends, in documentation order (WhatsApp's first).
SEND_TYPES = tuple(dict.fromkeys(name for adapter in ADAPTERS.values() for name in adapter.send_types))


def adapter_for(platform: str) -> Adapter:
    """The adapter of a stored platform value; an unknown one raises ``ValueError``."""
    return ADAPTERS[Platform(platform)]


def reply_windows() -> dict[Platform, timedelta]:
    """Each platform's reply window (``Adapter.reply_window``), for the platforms that have one."""
    return {platform: adapter.reply_window for platform, adapter in ADAPTERS.items() if adapter.reply_window}


def message_public(*, platform: str, message_type: str, content: object) -> PublicMessage:
    """A stored message in the public vocabulary (``Adapter.message_public``); ``unknown`` for a platform
    no adapter speaks for."""
    if platform not in ADAPTERS:
        return UNKNOWN_MESSAGE
    return ADAPTERS[Platform(platform)].message_public(message_type, content)


def content_edited(*, platform: str, content: object, text: str) -> object:
    """A stored message's content with its text replaced by an edit's (``Adapter.content_edited``)."""
    if platform not in ADAPTERS:
        return content
    return ADAPTERS[Platform(platform)].content_edited(content, text)


def parser_for(object_name: str) -> Callable[[JsonObject], ParsedDelivery] | None:
    """The parser for a webhook body's top-level ``object``, or None for one no platform sends."""
    return PARSERS.get(object_name)


def content_normalise(*, platform: str, request: SendRequest) -> dict[str, Any]:
    """The send request as ``Message.content``, by the platform's rules (``Adapter.content_normalise``)."""
    return adapter_for(platform).content_normalise(request)


# Channel-level news that carries no customer content; any other change is quarantined encrypted.
CHANNEL_EVENT_FIELDS = frozenset(
    {
        "message_template_status_update",
        "message_template_quality_update",
        "template_category_update",
        "phone_number_quality_update",
        "phone_number_name_update",
        "account_update",
        "account_alerts",
        "account_review_update",
        "business_capability_update",
        "security",
    }
)


def delivery_events(parsed: ParsedDelivery) -> list[NeutralEvent]:
    """The delivery's items as neutral events, in document order."""
    return [item_event(item) for item in parsed.items]


def item_event(item: DeliveryItem) -> NeutralEvent:
    if isinstance(item, UnknownItem):
        return UnreadableEvent(platform=item.platform, path=item.path, routing_id=item.routing_id, raw=item.raw)
    if isinstance(item, ChannelEventItem):
        return _change_event(item)
    return ADAPTERS[Platform(item.platform)].item_event(item)


def _change_event(item: ChannelEventItem) -> ChannelNotice | UnhandledEvent:
    if item.field in CHANNEL_EVENT_FIELDS:
        return ChannelNotice(
            platform=item.platform,
            path=item.path,
            routing_id=item.routing_id,
            raw=item.value,
            field=item.field,
            payload=item.value,
        )
    reason = f"unhandled_field:{item.field}"[:64]
    return UnhandledEvent(
        platform=item.platform, path=item.path, routing_id=item.routing_id, raw=item.value, reason=reason
    )


def stored_media_sources(*, platform: str, content: object) -> tuple[MediaSource, ...]:
    """The media a stored inbound item refers to, in order; anything unexpected is skipped, never raised."""
    if platform not in ADAPTERS or not isinstance(content, dict):
        return ()
    return ADAPTERS[Platform(platform)].media_sources(content)


def parse_webhook(body: bytes) -> ParsedDelivery:
    """Typed items in document order; bad input yields problems, not exceptions."""
    try:
        document = decode_json(body)
    except PayloadError as error:
        return _refused(error.path, error.reason)
    if not isinstance(document, dict):
        return _refused("body", "expected a JSON object")
    object_name = document.get("object")
    parser = parser_for(object_name) if isinstance(object_name, str) else None
    if parser is None:
        return _refused("object", f"unknown object {str(object_name)[:80]!r}")
    return parser(document)


def _refused(path: str, reason: str) -> ParsedDelivery:
    return ParsedDelivery(problems=(ParseProblem(path=path, reason=reason),))
