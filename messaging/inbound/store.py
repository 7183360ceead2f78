"""Storing parsed webhook items: route each by its own id through the app it came on, dedupe by unique
constraints (so redeliveries and concurrent workers give one row), statuses forward only.

One delivery is stored in one transaction and in bulk: the channels, contacts, conversations and messages
of all its items are looked up with one query each and inserted with ``INSERT … ON CONFLICT DO NOTHING``,
so a 50-item webhook costs a dozen queries instead of hundreds. Rare kinds (channel news, quarantine,
receipts) go one by one.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.bulk import ColumnChange, rows_update
from core.db import commit_without_waiting_for_disk, rows_insert
from encryption.blind_index import blind_index_filter
from messaging.business_events import (
    BusinessEvent,
    business_events_record,
    message_business_event,
    message_event_type,
)
from messaging.contacts import (
    ContactKey,
    ContactWanted,
    contacts_resolve,
    conversations_resolve,
    numbers_changed_link,
)
from messaging.inbound.accounts import AccountTargets, account_channels_of, account_notices_store, account_refusal
from messaging.inbound.address_book import address_book_apply, address_book_wanted
from messaging.inbound.edits import EditReport, edits_apply, edits_follow
from messaging.inbound.media import media_attachments_plan_many
from messaging.inbound.media_storage import media_attachments_discard
from messaging.inbound.notices import OneByOne, one_store, quarantine, receipt_store
from messaging.lifetimes import Lifetimes, MessageStamp, lifetimes_for, message_stamp
from messaging.models import (
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageEdit,
    MessageStatus,
    MetaApp,
)
from messaging.providers.delivery import ParsedDelivery
from messaging.providers.events import (
    AccountNotice,
    AddressBookEvent,
    MediaSource,
    MessageEvent,
    NeutralEvent,
    ReceiptEvent,
    StatusEvent,
    UnhandledEvent,
    UnreadableEvent,
)
from messaging.providers.registry import delivery_events, message_public
from messaging.statuses import StatusReport, parked_statuses_apply, statuses_apply
from messaging.watermarks import parked_receipts_apply

logger = logging.getLogger(__name__)
SEEN_STATUSES = frozenset({MessageStatus.READ, MessageStatus.PLAYED})
REACHED_STATUSES = SEEN_STATUSES | {MessageStatus.DELIVERED}


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDraft:
    """A message about to be stored, with the person it is with and the files it refers to."""

    person: ContactWanted
    direction: str
    message_type: str
    status: str
    provider_message_id: str
    provider_timestamp: datetime
    content: object
    is_flagged: bool = False
    is_sent_elsewhere: bool = False
    is_historical: bool = False
    media: tuple[MediaSource, ...] = ()
    changed_to: ContactWanted | None = None  # the person's new number, when this says they changed it

    @property
    def channel(self) -> Channel:
        return self.person.channel


@dataclass(slots=True)
class _Sorted:
    """A delivery's items, sorted by how they are stored."""

    drafts: list[MessageDraft]
    statuses: list[StatusReport]
    unsent: list[tuple[Channel, str]]
    address_book: list[tuple[Channel, AddressBookEvent]]
    edits: list[EditReport]
    receipts: list[tuple[Channel, ReceiptEvent]]
    one_by_one: list[tuple[Channel, OneByOne]]
    accounts: AccountTargets
    coexistence: dict[uuid.UUID, Channel]  # the channels shown to share their number with the Business app


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
    events = delivery_events(parsed)
    channels = _channels_of(meta_app, events)
    account_channels = account_channels_of(meta_app, events)
    batch = _Sorted(
        drafts=[],
        statuses=[],
        unsent=[],
        address_book=[],
        edits=[],
        receipts=[],
        one_by_one=[],
        accounts=[],
        coexistence={},
    )
    for event in events:
        if isinstance(event, AccountNotice):
            targets = account_channels.get((event.platform, event.routing_id or ""), [])
            refusal = account_refusal(event, targets)
            if refusal is not None:
                outcomes[quarantine(meta_app, delivery_id, event, refusal, received_at)] += 1
            else:
                batch.accounts.append((targets, event))
            continue
        channel = None if isinstance(event, UnreadableEvent) else channels.get((event.platform, event.routing_id or ""))
        if isinstance(event, UnreadableEvent) or channel is None:
            outcomes[quarantine(meta_app, delivery_id, event, _unclaimed_reason(event), received_at)] += 1
        else:
            _sort(batch, channel, event, received_at)
    drafts = [draft for draft, _ in _stamped(batch.drafts, received_at)]  # past history is not imported
    outcomes["history_expired"] += len(batch.drafts) - len(drafts)
    # New contacts (each with its own subject key) commit on their own first, so their keys are cached
    # for the rest of the delivery; a contact left without messages by a failure below is harmless.
    people = [draft.person for draft in drafts] + address_book_wanted(batch.address_book)
    people += [draft.changed_to for draft in drafts if draft.changed_to]
    people += _watermark_people(batch)
    contacts = contacts_resolve(people)
    relaxed = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        if relaxed:
            commit_without_waiting_for_disk()
        outcomes += messages_store(drafts, contacts=contacts, received_at=received_at)
        numbers_changed_link(
            [(contacts[draft.person.key], contacts[draft.changed_to.key]) for draft in drafts if draft.changed_to]
        )
        _unsent_blank(batch.unsent)
        edits_apply(batch.edits)
        outcomes += Counter(address_book_apply(batch.address_book, contacts=contacts))
        coexistence_mark(list(batch.coexistence.values()))
        outcomes += statuses_apply(batch.statuses)
        for channel, receipt in batch.receipts:
            person = ContactWanted(channel=channel, external_id=receipt.user_id) if receipt.user_id else None
            outcomes[receipt_store(channel, receipt, contacts.get(person.key) if person else None, received_at)] += 1
        for channel, item in batch.one_by_one:
            outcomes[one_store(channel, item, received_at, meta_app, delivery_id)] += 1
        outcomes += account_notices_store(batch.accounts, received_at)
        if then is not None:
            then()
    return +outcomes


def _unclaimed_reason(event: NeutralEvent) -> str:
    """Why an event no channel takes is held: unreadable, a field with no place (named), or no channel."""
    if isinstance(event, UnreadableEvent):
        return "unreadable"
    return event.reason if isinstance(event, UnhandledEvent) else "no_channel"


def _channels_of(meta_app: MetaApp, events: Sequence[NeutralEvent]) -> dict[tuple[str, str], Channel]:
    """The channels this app reaches that the events name: one query per delivery."""
    routing_ids = {
        event.routing_id
        for event in events
        if not isinstance(event, UnreadableEvent | AccountNotice) and event.routing_id
    }
    if not routing_ids:
        return {}
    channels = Channel.objects.filter(meta_app=meta_app, provider_id__in=routing_ids).select_related("tenant")
    return {(channel.platform, channel.provider_id): channel for channel in channels}


def _sort(batch: _Sorted, channel: Channel, event: NeutralEvent, received_at: datetime) -> None:
    if isinstance(event, AddressBookEvent) or (isinstance(event, MessageEvent) and event.is_coexistence):
        batch.coexistence[channel.pk] = channel
    if isinstance(event, MessageEvent):
        batch.drafts.append(_message_draft(channel, event))
        if event.takes_back is not None:
            batch.unsent.append((channel, event.takes_back))
        if event.edits is not None:
            batch.edits.append(
                EditReport(
                    channel=channel,
                    edit=event.edits,
                    provider_timestamp=event.provider_timestamp,
                    received_at=received_at,
                )
            )
    elif isinstance(event, AddressBookEvent):
        batch.address_book.append((channel, event))
    elif isinstance(event, StatusEvent):
        batch.statuses.append(_status_report(channel, event, received_at))
    elif isinstance(event, ReceiptEvent):
        batch.receipts.append((channel, event))
    elif not isinstance(event, UnreadableEvent | AccountNotice):
        batch.one_by_one.append((channel, event))


def _watermark_people(batch: _Sorted) -> list[ContactWanted]:
    """The people of the receipts with a watermark: their messages up to it are covered."""
    people = []
    for channel, receipt in batch.receipts:
        if receipt.watermark is not None and receipt.user_id:
            people.append(ContactWanted(channel=channel, external_id=receipt.user_id))
    return people


def _message_draft(channel: Channel, event: MessageEvent) -> MessageDraft:
    person = event.person
    return MessageDraft(
        person=ContactWanted(
            channel=channel,
            external_id=person.external_id,
            profile={"name": person.profile_name} if person.profile_name else None,
            business_user_id=person.business_user_id,
            seen_at=event.provider_timestamp,
        ),
        changed_to=ContactWanted(channel=channel, external_id=person.changed_to) if person.changed_to else None,
        direction=Direction.OUTBOUND if event.is_echo else Direction.INBOUND,
        message_type=event.message_type,
        status=event.status or (MessageStatus.SENT if event.is_echo else MessageStatus.RECEIVED),
        provider_message_id=event.provider_message_id,
        provider_timestamp=event.provider_timestamp,
        content=event.content,
        is_flagged=event.is_flagged,
        is_sent_elsewhere=event.is_echo,
        is_historical=event.is_historical,
        media=event.media,
    )


def coexistence_mark(channels: Sequence[Channel]) -> None:
    """A number whose WhatsApp Business app echoes, syncs or shares its history is on that app too: Meta then
    holds it to the coexistence throughput, so the dispatcher does (``Channel.send_rate``)."""
    pending = [channel.pk for channel in channels if not channel.is_coexistence]
    if not pending:
        return
    marked = list(Channel.objects.filter(pk__in=pending, is_coexistence=False).values_list("pk", flat=True))
    Channel.objects.filter(pk__in=marked).update(is_coexistence=True, updated_at=timezone.now())
    for channel_id in marked:
        logger.info("channel shares its number with the WhatsApp Business app", extra={"channel_id": str(channel_id)})


def _status_report(channel: Channel, event: StatusEvent, received_at: datetime) -> StatusReport:
    return StatusReport(
        channel=channel,
        provider_message_id=event.provider_message_id,
        status=event.status,
        provider_timestamp=event.provider_timestamp,
        received_at=received_at,
        errors=list(event.errors),
        pricing=event.pricing,
        callback_data=event.callback_data,
    )


# --- messages in bulk ---------------------------------------------------------------------------------


def messages_store(
    drafts: Sequence[MessageDraft], *, contacts: dict[ContactKey, Contact], received_at: datetime
) -> Counter[str]:
    """Insert the drafts not stored yet (by channel and provider id) in one statement, and plan the media of
    those inserted from their drafts; count the rest. ``contacts`` comes from ``contacts_resolve`` over the
    same drafts."""
    stamped = _stamped(drafts, received_at)
    outcomes: Counter[str] = Counter(history_expired=len(drafts) - len(stamped))
    if not stamped:
        return +outcomes
    drafts = [draft for draft, _ in stamped]
    conversations = conversations_resolve({(draft.channel, contacts[draft.person.key]) for draft in drafts})
    rows = [_message_row(draft, contacts, conversations, received_at, stamp) for draft, stamp in stamped]
    stored = rows_insert(rows)
    planned = [(row, draft.media) for row, draft in zip(rows, drafts, strict=True) if row.pk in stored]
    inserted = [row for row, _ in planned]
    _last_inbound_update([row for row in inserted if row.direction == Direction.INBOUND])
    outbound = [row for row in inserted if row.direction == Direction.OUTBOUND]
    parked_statuses_apply(messages=outbound)
    parked_receipts_apply(messages=outbound)
    edits_follow(messages=[row for row in inserted if row.direction == Direction.INBOUND])
    media_attachments_plan_many(planned=planned)
    business_events_record(
        [_message_stored_event(row) for row in inserted if not row.is_historical]  # an import of past chats is not news
    )
    outcomes["duplicate"] += len(rows) - len(inserted)
    for row in inserted:
        outcomes["historical" if row.is_historical else "echo" if row.is_sent_elsewhere else "stored"] += 1
    return +outcomes


def _stamped(drafts: Sequence[MessageDraft], received_at: datetime) -> list[tuple[MessageDraft, MessageStamp]]:
    """Each draft with its retention stamps: counted from its arrival, or for a message of the app's chat history
    from when it was sent, under the tenant's policy. A historical message already past its content's lifetime
    is not imported at all (left out here)."""
    lifetimes = {
        channel.pk: lifetimes_for(tenant_id=channel.tenant_id, channel_id=channel.pk)
        for channel in {draft.channel.pk: draft.channel for draft in drafts}.values()
    }
    arrived = {pk: message_stamp(written_at=received_at, lifetimes=policy) for pk, policy in lifetimes.items()}
    stamped: list[tuple[MessageDraft, MessageStamp]] = []
    for draft in drafts:
        if not draft.is_historical:
            stamped.append((draft, arrived[draft.channel.pk]))
            continue
        stamp = _historical_stamp(draft, lifetimes[draft.channel.pk])
        if stamp.content_expires_at > received_at:
            stamped.append((draft, stamp))
    return stamped


def _historical_stamp(draft: MessageDraft, lifetimes: Lifetimes) -> MessageStamp:
    """Counted from when it was sent. Meta tells whether the business's message reached the user, not when: it did
    no earlier than it was sent, so a policy that shortens delivered or read content counts from then."""
    sent_at = draft.provider_timestamp
    reached = draft.direction == Direction.OUTBOUND and draft.status in REACHED_STATUSES
    seen = draft.direction == Direction.OUTBOUND and draft.status in SEEN_STATUSES
    return message_stamp(
        written_at=sent_at,
        lifetimes=lifetimes,
        delivered_at=sent_at if reached else None,
        read_at=sent_at if seen else None,
    )


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
        # Read from the draft's content: the row's may be sealed already expired under the tenant's policy.
        public_type=message_public(
            platform=channel.platform, message_type=draft.message_type, content=draft.content
        ).type.value,
        status=draft.status,
        provider_message_id=draft.provider_message_id,
        provider_timestamp=draft.provider_timestamp,
        received_at=received_at,
        content=draft.content,
        is_flagged=draft.is_flagged,
        is_sent_elsewhere=draft.is_sent_elsewhere,
        is_historical=draft.is_historical,
        **stamp.as_fields(),
    )


def _message_stored_event(message: Message) -> BusinessEvent:
    """``message.received``, ``.echo``, ``.reaction`` or ``.edited`` for a row this delivery inserted."""
    return message_business_event(
        message_event_type(message_type=message.message_type, is_sent_elsewhere=message.is_sent_elsewhere),
        message,
        occurred_at=message.provider_timestamp,
        facts={
            "direction": message.direction,
            "type": message.public_type,
            "platform": message.channel.platform,
        },
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
    guard = "{column} IS NULL OR {column} < %s"
    changes = {
        pk: {"last_inbound_at": ColumnChange.to(moment, guard=guard, guard_values=(moment,))}
        for pk, moment in newest.items()
    }
    # A message arrived in each: ``updated_since`` on conversations finds them, in the same statement.
    rows_update(Conversation, changes, same={"updated_at": ColumnChange.to(timezone.now())})


def _unsent_blank(unsent: Sequence[tuple[Channel, str]]) -> None:
    """A person who unsends a message takes it back: keep the row and the event, drop its content, its earlier
    versions and its media."""
    for channel, mid in unsent:
        query = blind_index_filter(Message, "provider_message_index", tenant_id=channel.tenant_id, value=mid)
        originals = Message.objects.filter(query, channel=channel, direction=Direction.INBOUND)
        ids = list(originals.values_list("pk", flat=True))
        media_attachments_discard(message_ids=ids)
        MessageEdit.objects.filter(message_id__in=ids).delete()  # its earlier versions go with it
        originals.update(content=None)
