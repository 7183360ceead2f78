"""WhatsApp items as neutral events (messaging.providers.events), and the files a message's typed content
refers to: on arrival from the parsed item, for a stored message through the same content parser."""

from __future__ import annotations

from messaging.providers.delivery import Collector
from messaging.providers.events import (
    AccountNotice,
    AccountStanding,
    AddressBookEvent,
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
from messaging.providers.whatsapp.accounts import AccountUpdate, daily_limit_of
from messaging.providers.whatsapp.contents import message_content
from messaging.providers.whatsapp.types.coexistence import (
    AddressBookEntry,
    HistoryMessage,
    HistoryProgress,
    MessageEcho,
)
from messaging.providers.whatsapp.types.contents import (
    EditContent,
    MediaContent,
    MessageContent,
    RevokeContent,
    SystemContent,
    UnknownContent,
)
from messaging.providers.whatsapp.types.items import ValueErrorItem
from messaging.providers.whatsapp.types.messages import InboundMessage
from messaging.providers.whatsapp.types.statuses import StatusUpdate

WhatsAppEventItem = (
    InboundMessage
    | StatusUpdate
    | ValueErrorItem
    | MessageEcho
    | HistoryMessage
    | HistoryProgress
    | AddressBookEntry
    | AccountUpdate
)
WHATSAPP_EVENT_ITEMS = (
    InboundMessage,
    StatusUpdate,
    ValueErrorItem,
    MessageEcho,
    HistoryMessage,
    HistoryProgress,
    AddressBookEntry,
    AccountUpdate,
)

# ``history_context.status`` (Meta writes it in capitals) as the status of a stored message; ``PENDING`` and
# anything unknown read as ``sent``: the app sent it, no receipt says more.
HISTORY_STATUSES = {"DELIVERED": "delivered", "READ": "read", "PLAYED": "played", "ERROR": "failed", "FAILED": "failed"}


def item_event(
    item: WhatsAppEventItem,
) -> MessageEvent | UnroutableEvent | StatusEvent | ChannelNotice | AddressBookEvent | AccountNotice:
    if isinstance(item, AccountUpdate):
        return account_event(item)
    if isinstance(item, InboundMessage):
        return message_event(item)
    if isinstance(item, StatusUpdate):
        return status_event(item)
    if isinstance(item, MessageEcho | HistoryMessage | HistoryProgress | AddressBookEntry):
        return coexistence_event(item)
    return value_error_event(item)


def coexistence_event(
    item: MessageEcho | HistoryMessage | HistoryProgress | AddressBookEntry,
) -> MessageEvent | ChannelNotice | AddressBookEvent:
    """The items of a number shared with the WhatsApp Business app (``coexistence.py``)."""
    if isinstance(item, MessageEcho):
        return echo_event(item)
    if isinstance(item, HistoryMessage):
        return history_event(item)
    if isinstance(item, HistoryProgress):
        return history_progress_event(item)
    return address_book_event(item)


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


def echo_event(item: MessageEcho) -> MessageEvent:
    """A message the business sent from the WhatsApp Business app: stored as sent elsewhere, like a Messenger
    echo, in the conversation with the person it went ``to``."""
    return MessageEvent(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        person=Person(external_id=item.to),
        message_type=item.type,
        provider_message_id=item.id,
        provider_timestamp=item.timestamp,
        content=item.raw,
        is_flagged=isinstance(item.content, UnknownContent),
        is_echo=True,
        media=content_media(item.content),
        is_coexistence=True,
    )


def history_event(item: HistoryMessage) -> MessageEvent:
    """A past message of the app's chat with ``thread_id``: the user's, or the business's (sent elsewhere)."""
    return MessageEvent(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        person=Person(external_id=item.thread_id),
        message_type=item.type,
        provider_message_id=item.id,
        provider_timestamp=item.timestamp,
        content=item.raw,
        is_flagged=isinstance(item.content, UnknownContent),
        is_echo=item.from_business,
        media=content_media(item.content),
        is_coexistence=True,
        is_historical=True,
        status=HISTORY_STATUSES.get((item.status or "").upper(), "sent") if item.from_business else None,
    )


def history_progress_event(item: HistoryProgress) -> ChannelNotice:
    """Channel news under ``history``: how far the import is (``progress`` 100: complete), never a message."""
    chunk = item.chunk
    return ChannelNotice(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        field="history",
        payload={
            "phase": chunk.phase,
            "chunk_order": chunk.chunk_order,
            "progress": chunk.progress,
            "threads": item.threads,
            "messages": item.messages,
        },
    )


def address_book_event(item: AddressBookEntry) -> AddressBookEvent:
    return AddressBookEvent(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        person=Person(external_id=item.wa_id),
        full_name=None if item.is_removal else item.full_name,
        first_name=None if item.is_removal else item.first_name,
        is_removed=item.is_removal,
        timestamp=item.timestamp,
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
    """An out-of-band error for the phone number is channel news under the ``errors`` field (``history`` for
    a chat history the business declined to share)."""
    return ChannelNotice(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        field=item.field,
        payload=error_fields(item.error),
    )


def account_event(item: AccountUpdate) -> AccountNotice:
    """A WABA's change, routed by the WABA id to every channel of the account."""
    tier = item.messaging_limit_tier
    restriction = item.restriction
    return AccountNotice(
        platform=item.platform,
        path=item.path,
        routing_id=item.routing_id,
        raw=item.raw,
        field=item.field,
        payload=item.raw,
        occurred_at=item.occurred_at,
        event=item.event,
        phone_number=item.phone_number,
        quality_rating=item.quality_rating,
        messaging_limit=tier,
        daily_limit=daily_limit_of(tier) if tier else None,
        throughput_mps=item.throughput_mps,
        standing=None
        if restriction is None
        else AccountStanding(is_restricted=restriction.is_restricted, kind=restriction.kind, reason=restriction.reason),
        display_name=item.display_name,
        display_name_status=item.display_name_status,
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
