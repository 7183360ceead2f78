"""The rare kinds, stored one by one: channel news, Messenger/Instagram receipts, and quarantine for what no
channel claims or storage has no place for."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

from messaging.business_events import (
    ERROR_TITLE_LENGTH,
    BusinessEvent,
    EventType,
    business_events_record,
    first_error,
)
from messaging.lifetimes import lifetimes_for, raw_expires_at
from messaging.models import Channel, ChannelEvent, Contact, MetaApp, QuarantinedItem
from messaging.providers.events import ChannelNotice, NeutralEvent, ReceiptEvent, UnhandledEvent, UnroutableEvent
from messaging.statuses import StatusReport, statuses_apply
from messaging.watermarks import Watermark, watermark_apply

OneByOne = ChannelNotice | UnroutableEvent | UnhandledEvent
ERRORS_FIELD = "errors"  # the field of a webhook's ``value.errors`` (``ChannelNotice.field``)


def one_store(
    channel: Channel,
    event: OneByOne,
    received_at: datetime,
    meta_app: MetaApp,
    delivery_id: uuid.UUID,
) -> str:
    if isinstance(event, ChannelNotice):
        return channel_event_record(channel, event.field, event.payload, received_at)
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
    if created and field == ERRORS_FIELD:
        business_events_record([_channel_error_event(channel, payload, received_at)])
    return "channel_event" if created else "duplicate"


def _channel_error_event(channel: Channel, payload: dict[str, object], received_at: datetime) -> BusinessEvent:
    """``channel.error``: Meta's code and title of a webhook's ``value.errors`` (never its free text)."""
    code, title = first_error([payload])
    return BusinessEvent(
        type=EventType.CHANNEL_ERROR,
        tenant_id=channel.tenant_id,
        occurred_at=received_at,
        channel_id=channel.pk,
        facts={"error_code": code, "error_title": title[:ERROR_TITLE_LENGTH] if title else None},
    )


def receipt_store(channel: Channel, event: ReceiptEvent, contact: Contact | None, received_at: datetime) -> str:
    """Messenger/Instagram delivery and read receipts move the business's outbound messages forward: those it
    names (or, not stored yet, when they are), and those up to its watermark (kept for the ones that appear
    later). ``contact`` is the person's, None when the receipt names nobody."""
    statuses_apply(
        [
            StatusReport(
                channel=channel,
                provider_message_id=mid,
                status=event.status,
                provider_timestamp=event.timestamp,
                received_at=received_at,
            )
            for mid in event.message_ids
        ]
    )
    if event.watermark is not None and contact is not None:
        watermark_apply(
            Watermark(
                channel=channel,
                contact=contact,
                status=event.status,
                watermark=event.watermark,
                provider_timestamp=event.timestamp,
                received_at=received_at,
            )
        )
    return "receipt"
