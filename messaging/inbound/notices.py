"""The rare kinds, stored one by one: channel news, Messenger/Instagram receipts, and quarantine for what no
channel claims or storage has no place for."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db.models import Q

from encryption.blind_index import blind_index_filter
from messaging.lifetimes import lifetimes_for, raw_expires_at
from messaging.models import Channel, ChannelEvent, Contact, Conversation, Direction, Message, MetaApp, QuarantinedItem
from messaging.providers.events import ChannelNotice, NeutralEvent, ReceiptEvent, UnhandledEvent, UnroutableEvent
from messaging.statuses import STATUS_MESSAGE_FIELDS, StatusReport, statuses_record

OneByOne = ChannelNotice | ReceiptEvent | UnroutableEvent | UnhandledEvent


def one_store(
    channel: Channel,
    event: OneByOne,
    received_at: datetime,
    meta_app: MetaApp,
    delivery_id: uuid.UUID,
) -> str:
    if isinstance(event, ChannelNotice):
        return channel_event_record(channel, event.field, event.payload, received_at)
    if isinstance(event, ReceiptEvent):
        return _receipt(channel, event)
    if isinstance(event, UnroutableEvent):
        return "unroutable"  # no sender to file it under
    return quarantine(meta_app, delivery_id, event, event.reason, received_at)


def quarantine(
    meta_app: MetaApp, delivery_id: uuid.UUID, event: NeutralEvent, reason: str, received_at: datetime
) -> str:
    _, created = QuarantinedItem.objects.get_or_create(
        delivery_id=delivery_id,
        item_path=event.path[:128],
        defaults={
            "meta_app": meta_app,
            "tenant_id": meta_app.tenant_id,
            "received_at": received_at,
            "platform": event.platform,
            "routing_id": (event.routing_id or "")[:64],
            "reason": reason,
            "payload": {"item": event.raw},  # wrapped: a JSON null item is still a value, never NULL
            "expires_at": raw_expires_at(
                received_at=received_at, lifetimes=lifetimes_for(tenant_id=meta_app.tenant_id)
            ),
        },
    )
    return "quarantined" if created else "duplicate"


def channel_event_record(
    channel: Channel,
    field: str,
    payload: dict[str, object],
    received_at: datetime,
    *,
    occurred_at: datetime | None = None,
) -> str:
    """Channel-level news carries no customer content, so a plain hash of it (and of when it happened, when
    Meta says) identifies a redelivery."""
    identity: list[object] = [field, payload] if occurred_at is None else [field, payload, occurred_at.isoformat()]
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str).encode()
    _, created = ChannelEvent.objects.get_or_create(
        channel=channel,
        fingerprint=hashlib.sha256(canonical).hexdigest(),
        defaults={"tenant": channel.tenant, "field": field, "payload": payload, "received_at": received_at},
    )
    return "channel_event" if created else "duplicate"


def _receipt(channel: Channel, event: ReceiptEvent) -> str:
    """Messenger/Instagram delivery and read receipts move the business's outbound messages forward."""
    targets = list(_outbound_by_mid(channel, event.message_ids))
    if event.watermark is not None and event.user_id:
        conversation = _conversation_of_user(channel, event.user_id)
        if conversation is not None:
            targets += list(
                Message.objects.filter(
                    conversation=conversation, direction=Direction.OUTBOUND, provider_timestamp__lte=event.watermark
                ).only(*STATUS_MESSAGE_FIELDS)
            )
    report = StatusReport(
        channel=channel,
        provider_message_id="",
        status=event.status,
        provider_timestamp=event.timestamp,
        received_at=event.timestamp,
    )
    statuses_record([(message, report) for message in {message.pk: message for message in targets}.values()])
    return "receipt"


def _outbound_by_mid(channel: Channel, mids: Sequence[str]) -> list[Message]:
    matches = Q(pk__in=[])
    for mid in mids:
        matches |= blind_index_filter(Message, "provider_message_index", tenant_id=channel.tenant_id, value=mid)
    return list(Message.objects.filter(matches, channel=channel).only(*STATUS_MESSAGE_FIELDS)) if mids else []


def _conversation_of_user(channel: Channel, user_id: str) -> Conversation | None:
    query = blind_index_filter(Contact, "external_id_index", tenant_id=channel.tenant_id, value=user_id)
    contact = Contact.objects.filter(query, tenant=channel.tenant, platform=channel.platform).first()
    return Conversation.objects.filter(channel=channel, contact=contact).first() if contact else None
