"""Storing parsed webhook items: route each by its own id through the app it came on, dedupe by unique
constraints (so redeliveries and concurrent workers give one row), statuses forward only."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from datetime import datetime

from django.db import IntegrityError, transaction

from encryption.blind_index import blind_index_filter
from messaging.models import (
    Channel,
    ChannelEvent,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MetaApp,
    ParkedStatus,
    QuarantinedItem,
    StatusEvent,
)
from messaging.providers.types import (
    ChannelEventItem,
    DeliveryItem,
    InboundMessage,
    MessagingDelivery,
    MessagingItem,
    MessagingMessage,
    MessagingRead,
    ParsedDelivery,
    StatusUpdate,
    UnknownContent,
    UnknownItem,
    ValueErrorItem,
)

# Channel-level news that carries no customer content; anything else unrouted is quarantined encrypted.
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
STATUS_RANK: dict[str, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.ACCEPTED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
    MessageStatus.PLAYED: 5,
}


def delivery_items_store(
    *, meta_app: MetaApp, delivery_id: uuid.UUID, parsed: ParsedDelivery, received_at: datetime
) -> Counter[str]:
    """Store every item of one delivery; returns how many ended each way (stored, duplicate, ...)."""
    outcomes: Counter[str] = Counter()
    for item in parsed.items:
        with transaction.atomic():
            outcomes[_item_store(meta_app, delivery_id, item, received_at)] += 1
    return outcomes


def _item_store(meta_app: MetaApp, delivery_id: uuid.UUID, item: DeliveryItem, received_at: datetime) -> str:
    if isinstance(item, UnknownItem):
        return _quarantine(meta_app, delivery_id, item, "unreadable", received_at)
    channel = (
        Channel.objects.filter(meta_app=meta_app, platform=item.platform, provider_id=item.routing_id)
        .select_related("tenant")
        .first()
    )
    if channel is None:
        return _quarantine(meta_app, delivery_id, item, "no_channel", received_at)
    return _routed_store(channel, item, received_at, meta_app, delivery_id)


def _routed_store(
    channel: Channel, item: DeliveryItem, received_at: datetime, meta_app: MetaApp, delivery_id: uuid.UUID
) -> str:
    if isinstance(item, InboundMessage):
        return _whatsapp_message_store(channel, item, received_at)
    if isinstance(item, StatusUpdate):
        return _whatsapp_status_store(channel, item, received_at)
    if isinstance(item, ValueErrorItem | ChannelEventItem):
        return _channel_item_store(channel, item, received_at, meta_app, delivery_id)
    if isinstance(item, MessagingDelivery | MessagingRead):
        return _messaging_receipt(channel, item)
    if isinstance(item, MessagingItem):
        return _messaging_event_store(channel, item, received_at)
    return _quarantine(meta_app, delivery_id, item, "unhandled", received_at)


def _whatsapp_status_store(channel: Channel, item: StatusUpdate, received_at: datetime) -> str:
    return status_apply(
        channel=channel,
        provider_message_id=item.message_id,
        status=item.status,
        provider_timestamp=item.timestamp,
        errors=[vars_of(error) for error in item.errors],
        callback_data=item.biz_opaque_callback_data or "",
        received_at=received_at,
    )


def _channel_item_store(
    channel: Channel,
    item: ValueErrorItem | ChannelEventItem,
    received_at: datetime,
    meta_app: MetaApp,
    delivery_id: uuid.UUID,
) -> str:
    if isinstance(item, ValueErrorItem):
        return _channel_event(channel, "errors", vars_of(item.error), received_at)
    if item.field in CHANNEL_EVENT_FIELDS:
        return _channel_event(channel, item.field, item.value, received_at)
    return _quarantine(meta_app, delivery_id, item, f"unhandled_field:{item.field}"[:64], received_at)


def _raw_of(item: DeliveryItem) -> object:
    return item.value if isinstance(item, ChannelEventItem) else getattr(item, "raw", None)


def vars_of(error: object) -> dict[str, object]:
    return {key: getattr(error, key) for key in ("code", "title", "message", "details", "href")}


def _quarantine(
    meta_app: MetaApp, delivery_id: uuid.UUID, item: DeliveryItem, reason: str, received_at: datetime
) -> str:
    _, created = QuarantinedItem.objects.get_or_create(
        delivery_id=delivery_id,
        item_path=item.path[:128],
        defaults={
            "meta_app": meta_app,
            "tenant_id": meta_app.tenant_id,
            "received_at": received_at,
            "platform": item.platform,
            "routing_id": (item.routing_id or "")[:64],
            "reason": reason,
            "payload": {"item": _raw_of(item)},  # wrapped: a JSON null item is still a value, never NULL
        },
    )
    return "quarantined" if created else "duplicate"


def _channel_event(channel: Channel, field: str, payload: dict[str, object], received_at: datetime) -> str:
    """Channel-level news carries no customer content, so a plain hash of it identifies a redelivery."""
    canonical = json.dumps([field, payload], sort_keys=True, separators=(",", ":"), default=str).encode()
    _, created = ChannelEvent.objects.get_or_create(
        channel=channel,
        fingerprint=hashlib.sha256(canonical).hexdigest(),
        defaults={"tenant": channel.tenant, "field": field, "payload": payload, "received_at": received_at},
    )
    return "channel_event" if created else "duplicate"


# --- contacts, conversations, messages ----------------------------------------------------------------


def contact_for(*, channel: Channel, external_id: str, profile: dict[str, object] | None) -> Contact:
    """The tenant's contact for this platform id, created once even under concurrent workers."""
    query = blind_index_filter(Contact, "external_id_index", tenant_id=channel.tenant_id, value=external_id)
    existing: Contact | None = Contact.objects.filter(query, tenant=channel.tenant, platform=channel.platform).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Contact.objects.create(
                tenant=channel.tenant, platform=channel.platform, external_id=external_id, profile=profile
            )
    except IntegrityError:  # another worker created it first; its index key may be new to us too
        query = blind_index_filter(Contact, "external_id_index", tenant_id=channel.tenant_id, value=external_id)
        contact: Contact = Contact.objects.get(query, tenant=channel.tenant, platform=channel.platform)
        return contact


def conversation_for(*, channel: Channel, contact: Contact) -> Conversation:
    try:
        with transaction.atomic():
            conversation, _ = Conversation.objects.get_or_create(
                tenant=channel.tenant, channel=channel, contact=contact
            )
    except IntegrityError:
        conversation = Conversation.objects.get(channel=channel, contact=contact)
    return conversation


def message_insert(
    *,
    channel: Channel,
    contact: Contact,
    direction: str,
    message_type: str,
    status: str,
    provider_message_id: str,
    provider_timestamp: datetime,
    received_at: datetime,
    content: object,
    is_flagged: bool = False,
    is_sent_elsewhere: bool = False,
) -> Message | None:
    """Insert once; ``None`` when this provider id is already stored for the channel (a redelivery)."""
    conversation = conversation_for(channel=channel, contact=contact)
    try:
        with transaction.atomic():
            return Message.objects.create(
                tenant=channel.tenant,
                channel=channel,
                conversation=conversation,
                contact=contact,
                direction=direction,
                message_type=message_type[:32],
                status=status,
                provider_message_id=provider_message_id,
                provider_timestamp=provider_timestamp,
                received_at=received_at,
                content=content,
                is_flagged=is_flagged,
                is_sent_elsewhere=is_sent_elsewhere,
            )
    except IntegrityError:
        return None


def _inbound_recorded(message: Message | None) -> str:
    if message is None:
        return "duplicate"
    Conversation.objects.filter(pk=message.conversation_id).exclude(
        last_inbound_at__gte=message.provider_timestamp
    ).update(last_inbound_at=message.provider_timestamp)
    return "stored"


def _whatsapp_message_store(channel: Channel, item: InboundMessage, received_at: datetime) -> str:
    sender = item.wa_id or item.user_id
    if sender is None:
        return "unroutable"
    profile: dict[str, object] | None = {"name": item.profile_name} if item.profile_name else None
    contact = contact_for(channel=channel, external_id=sender, profile=profile)
    message = message_insert(
        channel=channel,
        contact=contact,
        direction=Direction.INBOUND,
        message_type=item.type,
        status=MessageStatus.RECEIVED,
        provider_message_id=item.id,
        provider_timestamp=item.timestamp,
        received_at=received_at,
        content=item.raw,
        is_flagged=isinstance(item.content, UnknownContent),
    )
    return _inbound_recorded(message)


def _messaging_event_store(channel: Channel, item: MessagingItem, received_at: datetime) -> str:
    """Messages, postbacks, reactions, edits, unsends and referrals from Messenger and Instagram.

    Echoes are the business's own messages sent outside the gateway: stored as outbound, never as inbound.
    """
    user = item.user_id
    if user is None:
        return "unroutable"
    contact = contact_for(channel=channel, external_id=user, profile=None)
    event_id = getattr(item, "mid", None) or _event_fingerprint(item)
    kind = str(getattr(item, "kind", "event")).removeprefix("meta.")
    is_echo = isinstance(item, MessagingMessage) and item.is_echo
    if not is_echo and kind != "message":
        event_id = f"{kind}:{event_id}"  # a reaction or edit names the message it is about
    message = message_insert(
        channel=channel,
        contact=contact,
        direction=Direction.OUTBOUND if is_echo else Direction.INBOUND,
        message_type=kind,
        status=MessageStatus.SENT if is_echo else MessageStatus.RECEIVED,
        provider_message_id=event_id,
        provider_timestamp=item.timestamp,
        received_at=received_at,
        content=item.raw,
        is_sent_elsewhere=is_echo,
    )
    if is_echo:
        return "echo" if message else "duplicate"
    return _inbound_recorded(message)


def _event_fingerprint(item: MessagingItem) -> str:
    """A stable id for events Meta sends without one (referrals): the same event redelivered matches."""
    canonical = json.dumps(item.raw, sort_keys=True, separators=(",", ":")).encode()
    return "evt:" + hashlib.sha256(canonical).hexdigest()[:40]


# --- statuses -----------------------------------------------------------------------------------------


def _may_advance(current: str, new: str) -> bool:
    if current == MessageStatus.FAILED or (new not in STATUS_RANK and new != MessageStatus.FAILED):
        return False
    if new == MessageStatus.FAILED:
        return STATUS_RANK.get(current, 0) <= STATUS_RANK[MessageStatus.SENT]
    return STATUS_RANK[new] > STATUS_RANK.get(current, -1)


def status_apply(
    *,
    channel: Channel,
    provider_message_id: str,
    status: str,
    provider_timestamp: datetime,
    errors: list[dict[str, object]],
    callback_data: str,
    received_at: datetime,
) -> str:
    """Record a status once and move the message forward only; park it when the message is not stored yet."""
    message = _message_for_status(channel, provider_message_id, callback_data)
    if message is None:
        _, created = _park(
            channel=channel,
            provider_message_id=provider_message_id,
            status=status,
            provider_timestamp=provider_timestamp,
            errors=errors,
            callback_data=callback_data,
            received_at=received_at,
        )
        return "parked" if created else "duplicate"
    return message_status_record(message=message, status=status, provider_timestamp=provider_timestamp, errors=errors)


def message_status_record(
    *, message: Message, status: str, provider_timestamp: datetime, errors: list[dict[str, object]]
) -> str:
    if status not in MessageStatus.values:
        return "unknown_status"
    _, created = StatusEvent.objects.get_or_create(
        message=message, status=status, defaults={"provider_timestamp": provider_timestamp, "errors": errors}
    )
    current = Message.objects.filter(pk=message.pk).values_list("status", flat=True).get()
    if _may_advance(current, status):
        Message.objects.filter(pk=message.pk, status=current).update(status=status)
    return "status" if created else "duplicate"


def _message_for_status(channel: Channel, provider_message_id: str, callback_data: str) -> Message | None:
    query = blind_index_filter(
        Message, "provider_message_index", tenant_id=channel.tenant_id, value=provider_message_id
    )
    message = Message.objects.filter(query, channel=channel).first()
    if message is None and _is_uuid(callback_data):
        message = Message.objects.filter(pk=callback_data, channel=channel).first()
    return message


def _park(
    *,
    channel: Channel,
    provider_message_id: str,
    status: str,
    provider_timestamp: datetime,
    errors: list[dict[str, object]],
    callback_data: str,
    received_at: datetime,
) -> tuple[ParkedStatus, bool]:
    query = blind_index_filter(
        ParkedStatus, "provider_message_index", tenant_id=channel.tenant_id, value=provider_message_id
    )
    existing = ParkedStatus.objects.filter(query, channel=channel, status=status).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            parked = ParkedStatus.objects.create(
                tenant=channel.tenant,
                channel=channel,
                received_at=received_at,
                provider_message_id=provider_message_id,
                status=status,
                provider_timestamp=provider_timestamp,
                callback_data=callback_data[:64],
                errors=errors,
            )
    except IntegrityError:  # another worker parked the same status first
        query = blind_index_filter(
            ParkedStatus, "provider_message_index", tenant_id=channel.tenant_id, value=provider_message_id
        )
        return ParkedStatus.objects.get(query, channel=channel, status=status), False
    return parked, True


def _messaging_receipt(channel: Channel, item: MessagingDelivery | MessagingRead) -> str:
    """Messenger/Instagram delivery and read receipts move the business's outbound messages forward."""
    status = MessageStatus.DELIVERED if isinstance(item, MessagingDelivery) else MessageStatus.READ
    mids = list(item.mids) if isinstance(item, MessagingDelivery) else ([item.mid] if item.mid else [])
    targets = [message for mid in mids if (message := _message_for_status(channel, mid, ""))]
    if item.watermark is not None and item.user_id:
        conversation = _conversation_of_user(channel, item.user_id)
        if conversation is not None:
            targets += list(
                Message.objects.filter(
                    conversation=conversation, direction=Direction.OUTBOUND, provider_timestamp__lte=item.watermark
                )
            )
    for message in targets:
        message_status_record(message=message, status=status, provider_timestamp=item.timestamp, errors=[])
    return "receipt"


def _conversation_of_user(channel: Channel, user_id: str) -> Conversation | None:
    query = blind_index_filter(Contact, "external_id_index", tenant_id=channel.tenant_id, value=user_id)
    contact = Contact.objects.filter(query, tenant=channel.tenant, platform=channel.platform).first()
    return Conversation.objects.filter(channel=channel, contact=contact).first() if contact else None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
