"""Storing parsed webhook items: route each by its own id through the app it came on, dedupe by unique
constraints (so redeliveries and concurrent workers give one row), statuses forward only.

One delivery is stored in one transaction and in bulk: the channels, contacts, conversations and messages
of all its items are looked up with one query each and inserted with ``INSERT … ON CONFLICT DO NOTHING``,
so a 50-item webhook costs a dozen queries instead of hundreds. Rare kinds (channel news, quarantine,
receipts) go one by one.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from core.bulk import GuardedChange, guarded_update
from core.db import commit_without_waiting_for_disk, rows_insert
from encryption.blind_index import blind_index_filter
from messaging.contacts import ContactKey, ContactWanted, contacts_resolve, conversations_resolve
from messaging.lifetimes import MessageStamp, lifetimes_for, message_stamp, raw_expires_at
from messaging.media import media_attachments_discard, media_attachments_plan_many
from messaging.models import (
    Channel,
    ChannelEvent,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MetaApp,
    QuarantinedItem,
)
from messaging.providers.types import (
    ChannelEventItem,
    DeliveryItem,
    InboundMessage,
    MessagingDelivery,
    MessagingItem,
    MessagingMessage,
    MessagingRead,
    MessagingUnsent,
    ParsedDelivery,
    StatusUpdate,
    UnknownContent,
    UnknownItem,
    ValueErrorItem,
)
from messaging.statuses import StatusReport, parked_statuses_apply, statuses_apply, statuses_record

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


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDraft:
    """A message about to be stored, with the person it is with."""

    person: ContactWanted
    direction: str
    message_type: str
    status: str
    provider_message_id: str
    provider_timestamp: datetime
    content: object
    is_flagged: bool = False
    is_sent_elsewhere: bool = False

    @property
    def channel(self) -> Channel:
        return self.person.channel


@dataclass(slots=True)
class _Sorted:
    """A delivery's items, sorted by how they are stored."""

    drafts: list[MessageDraft]
    statuses: list[StatusReport]
    unsent: list[MessagingUnsent]
    one_by_one: list[tuple[Channel, DeliveryItem]]


def delivery_items_store(
    *,
    meta_app: MetaApp,
    delivery_id: uuid.UUID,
    parsed: ParsedDelivery,
    received_at: datetime,
    then: Callable[[], None] | None = None,
) -> Counter[str]:
    """Store every item of one delivery; returns how many ended each way (stored, duplicate, ...).

    ``then`` runs inside the storing transaction (marking the delivery processed), so the items and that
    mark commit together. Everything here can be rebuilt from the raw delivery, so when this is the
    outermost transaction its commit does not wait for the disk.
    """
    outcomes: Counter[str] = Counter()
    channels = _channels_of(meta_app, parsed.items)
    batch = _Sorted(drafts=[], statuses=[], unsent=[], one_by_one=[])
    for item in parsed.items:
        channel = None if isinstance(item, UnknownItem) else channels.get((item.platform, item.routing_id or ""))
        if channel is None:
            reason = "unreadable" if isinstance(item, UnknownItem) else "no_channel"
            outcomes[_quarantine(meta_app, delivery_id, item, reason, received_at)] += 1
        else:
            _sort(batch, channel, item, received_at)
    # New contacts (each with its own subject key) commit on their own first, so their keys are cached
    # for the rest of the delivery; a contact left without messages by a failure below is harmless.
    contacts = contacts_resolve([draft.person for draft in batch.drafts])
    relaxed = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        if relaxed:
            commit_without_waiting_for_disk()
        outcomes += messages_store(batch.drafts, contacts=contacts, received_at=received_at)
        _unsent_blank(channels, batch.unsent)
        outcomes += statuses_apply(batch.statuses)
        for channel, item in batch.one_by_one:
            outcomes[_one_store(channel, item, received_at, meta_app, delivery_id)] += 1
        if then is not None:
            then()
    return +outcomes


def _channels_of(meta_app: MetaApp, items: Sequence[DeliveryItem]) -> dict[tuple[str, str], Channel]:
    """The channels this app reaches that the items name: one query per delivery."""
    routing_ids = {item.routing_id for item in items if not isinstance(item, UnknownItem) and item.routing_id}
    if not routing_ids:
        return {}
    channels = Channel.objects.filter(meta_app=meta_app, provider_id__in=routing_ids).select_related("tenant")
    return {(channel.platform, channel.provider_id): channel for channel in channels}


def _sort(batch: _Sorted, channel: Channel, item: DeliveryItem, received_at: datetime) -> None:
    if isinstance(item, InboundMessage):
        draft = _whatsapp_draft(channel, item)
        if draft is not None:
            batch.drafts.append(draft)
            return
    elif isinstance(item, StatusUpdate):
        batch.statuses.append(_status_report(channel, item, received_at))
        return
    elif isinstance(item, MessagingItem) and not isinstance(item, MessagingDelivery | MessagingRead):
        draft = _messaging_draft(channel, item)
        if draft is not None:
            batch.drafts.append(draft)
            if isinstance(item, MessagingUnsent):
                batch.unsent.append(item)
            return
    batch.one_by_one.append((channel, item))


def _whatsapp_draft(channel: Channel, item: InboundMessage) -> MessageDraft | None:
    sender = item.wa_id or item.user_id
    if sender is None:
        return None
    return MessageDraft(
        person=ContactWanted(
            channel=channel,
            external_id=sender,
            profile={"name": item.profile_name} if item.profile_name else None,
            business_user_id=item.user_id if item.wa_id else None,
        ),
        direction=Direction.INBOUND,
        message_type=item.type,
        status=MessageStatus.RECEIVED,
        provider_message_id=item.id,
        provider_timestamp=item.timestamp,
        content=item.raw,
        is_flagged=isinstance(item.content, UnknownContent),
    )


def _messaging_draft(channel: Channel, item: MessagingItem) -> MessageDraft | None:
    """Messages, postbacks, reactions, edits, unsends and referrals from Messenger and Instagram.

    Echoes are the business's own messages sent outside the gateway: stored as outbound, never as inbound.
    """
    if item.user_id is None:
        return None
    kind = str(getattr(item, "kind", "event")).removeprefix("meta.")
    is_echo = isinstance(item, MessagingMessage) and item.is_echo
    return MessageDraft(
        person=ContactWanted(channel=channel, external_id=item.user_id),
        direction=Direction.OUTBOUND if is_echo else Direction.INBOUND,
        message_type=kind,
        status=MessageStatus.SENT if is_echo else MessageStatus.RECEIVED,
        provider_message_id=_event_id(item, kind),
        provider_timestamp=item.timestamp,
        content=item.raw,
        is_sent_elsewhere=is_echo,
    )


def _event_id(item: MessagingItem, kind: str) -> str:
    """A message's own mid; for an event about a message (reaction, edit, unsend) the mid plus a fingerprint
    of the event, so a second reaction or edit is stored too while a redelivery still matches."""
    mid = getattr(item, "mid", None)
    if kind == "message" and mid:
        return str(mid)
    canonical = json.dumps(item.raw, sort_keys=True, separators=(",", ":")).encode()
    fingerprint = hashlib.sha256(canonical).hexdigest()[:32]
    return f"{kind}:{mid}:{fingerprint}" if mid else f"{kind}:{fingerprint}"


def _status_report(channel: Channel, item: StatusUpdate, received_at: datetime) -> StatusReport:
    return StatusReport(
        channel=channel,
        provider_message_id=item.message_id,
        status=item.status,
        provider_timestamp=item.timestamp,
        received_at=received_at,
        errors=[vars_of(error) for error in item.errors],
        pricing=vars_of_pricing(item),
        callback_data=item.biz_opaque_callback_data or "",
    )


def vars_of(error: object) -> dict[str, object]:
    return {key: getattr(error, key) for key in ("code", "title", "message", "details", "href")}


def vars_of_pricing(item: StatusUpdate) -> dict[str, object] | None:
    pricing = item.pricing
    if pricing is None:
        return None
    return {key: getattr(pricing, key) for key in ("billable", "pricing_model", "type", "category")}


# --- messages in bulk ---------------------------------------------------------------------------------


def messages_store(
    drafts: Sequence[MessageDraft], *, contacts: dict[ContactKey, Contact], received_at: datetime
) -> Counter[str]:
    """Insert the drafts not stored yet (by channel and provider id) in one statement; count the rest.
    ``contacts`` comes from ``contacts_resolve`` over the same drafts."""
    if not drafts:
        return Counter()
    conversations = conversations_resolve({(draft.channel, contacts[draft.person.key]) for draft in drafts})
    stamps = {
        channel.pk: message_stamp(
            written_at=received_at, lifetimes=lifetimes_for(tenant_id=channel.tenant_id, channel_id=channel.pk)
        )
        for channel in {draft.channel.pk: draft.channel for draft in drafts}.values()
    }
    rows = [_message_row(draft, contacts, conversations, received_at, stamps[draft.channel.pk]) for draft in drafts]
    stored = rows_insert(rows)
    inserted = [row for row in rows if row.pk in stored]
    _last_inbound_update([row for row in inserted if row.direction == Direction.INBOUND])
    parked_statuses_apply(messages=[row for row in inserted if row.direction == Direction.OUTBOUND])
    media_attachments_plan_many(messages=inserted)
    outcomes: Counter[str] = Counter(duplicate=len(rows) - len(inserted))
    for row in inserted:
        outcomes["echo" if row.is_sent_elsewhere else "stored"] += 1
    return outcomes


def _message_row(
    draft: MessageDraft,
    contacts: dict[ContactKey, Contact],
    conversations: dict[tuple[uuid.UUID, uuid.UUID], Conversation],
    received_at: datetime,
    stamp: MessageStamp,
) -> Message:
    channel = draft.channel
    contact = contacts[draft.person.key]
    return Message(
        tenant_id=channel.tenant_id,
        channel=channel,
        conversation=conversations[(channel.pk, contact.pk)],
        contact=contact,
        direction=draft.direction,
        message_type=draft.message_type[:32],
        status=draft.status,
        provider_message_id=draft.provider_message_id,
        provider_timestamp=draft.provider_timestamp,
        received_at=received_at,
        content=draft.content,
        is_flagged=draft.is_flagged,
        is_sent_elsewhere=draft.is_sent_elsewhere,
        **stamp.as_fields(),
    )


def _last_inbound_update(messages: Sequence[Message]) -> None:
    """Open each conversation's window at its newest inbound message; never move it back."""
    newest: dict[uuid.UUID, datetime] = {}
    for message in messages:
        newest[message.conversation_id] = max(
            message.provider_timestamp, newest.get(message.conversation_id, message.provider_timestamp)
        )
    if not newest:
        return
    changes = [
        GuardedChange(pk, moment, "{column} IS NULL OR {column} < %s", (moment,)) for pk, moment in newest.items()
    ]
    guarded_update(Conversation, "last_inbound_at", changes)


def _unsent_blank(channels: dict[tuple[str, str], Channel], unsent: Sequence[MessagingUnsent]) -> None:
    """A person who unsends a message takes it back: keep the row and the event, drop its content and media."""
    for item in unsent:
        channel = channels[(item.platform, item.routing_id)]
        query = blind_index_filter(Message, "provider_message_index", tenant_id=channel.tenant_id, value=item.mid)
        originals = Message.objects.filter(query, channel=channel, direction=Direction.INBOUND)
        media_attachments_discard(message_ids=list(originals.values_list("pk", flat=True)))
        originals.update(content=None)


# --- one by one: channel news, receipts, quarantine ---------------------------------------------------


def _one_store(
    channel: Channel, item: DeliveryItem, received_at: datetime, meta_app: MetaApp, delivery_id: uuid.UUID
) -> str:
    if isinstance(item, ValueErrorItem):
        return _channel_event(channel, "errors", vars_of(item.error), received_at)
    if isinstance(item, ChannelEventItem) and item.field in CHANNEL_EVENT_FIELDS:
        return _channel_event(channel, item.field, item.value, received_at)
    if isinstance(item, MessagingDelivery | MessagingRead):
        return _messaging_receipt(channel, item)
    if isinstance(item, InboundMessage | MessagingItem):
        return "unroutable"  # no sender to file it under
    reason = f"unhandled_field:{item.field}"[:64] if isinstance(item, ChannelEventItem) else "unhandled"
    return _quarantine(meta_app, delivery_id, item, reason, received_at)


def _raw_of(item: DeliveryItem) -> object:
    return item.value if isinstance(item, ChannelEventItem) else getattr(item, "raw", None)


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
            "expires_at": raw_expires_at(
                received_at=received_at, lifetimes=lifetimes_for(tenant_id=meta_app.tenant_id)
            ),
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


def _messaging_receipt(channel: Channel, item: MessagingDelivery | MessagingRead) -> str:
    """Messenger/Instagram delivery and read receipts move the business's outbound messages forward."""
    status = MessageStatus.DELIVERED if isinstance(item, MessagingDelivery) else MessageStatus.READ
    mids = list(item.mids) if isinstance(item, MessagingDelivery) else ([item.mid] if item.mid else [])
    targets = list(_outbound_by_mid(channel, mids))
    if item.watermark is not None and item.user_id:
        conversation = _conversation_of_user(channel, item.user_id)
        if conversation is not None:
            targets += list(
                Message.objects.filter(
                    conversation=conversation, direction=Direction.OUTBOUND, provider_timestamp__lte=item.watermark
                ).only("pk", "status", "tenant_id")
            )
    report = StatusReport(
        channel=channel,
        provider_message_id="",
        status=status,
        provider_timestamp=item.timestamp,
        received_at=item.timestamp,
    )
    statuses_record([(message, report) for message in {message.pk: message for message in targets}.values()])
    return "receipt"


def _outbound_by_mid(channel: Channel, mids: Sequence[str]) -> list[Message]:
    matches = Q(pk__in=[])
    for mid in mids:
        matches |= blind_index_filter(Message, "provider_message_index", tenant_id=channel.tenant_id, value=mid)
    return list(Message.objects.filter(matches, channel=channel).only("pk", "status", "tenant_id")) if mids else []


def _conversation_of_user(channel: Channel, user_id: str) -> Conversation | None:
    query = blind_index_filter(Contact, "external_id_index", tenant_id=channel.tenant_id, value=user_id)
    contact = Contact.objects.filter(query, tenant=channel.tenant, platform=channel.platform).first()
    return Conversation.objects.filter(channel=channel, contact=contact).first() if contact else None
