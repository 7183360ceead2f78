"""Every parsed item as a neutral event (which adapter drafts which item type, and the items both share), and
which adapter reads a stored message's media."""

from __future__ import annotations

from messaging.providers.adapter import Platform
from messaging.providers.delivery import DeliveryItem, ParsedDelivery
from messaging.providers.events import ChannelNotice, NeutralEvent, UnhandledEvent, UnreadableEvent
from messaging.providers.items import ChannelEventItem, UnknownItem
from messaging.providers.media import MediaSource
from messaging.providers.registry import ADAPTERS

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
