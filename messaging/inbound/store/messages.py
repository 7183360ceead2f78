"""Messages in bulk: one insert for a delivery's drafts, and what each inserted message changes."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from core.bulk import ColumnChange, rows_update
from core.db import rows_insert
from messaging.business_events import (
    BusinessEvent,
    business_events_record,
    message_business_event,
    message_event_type,
)
from messaging.contacts import ContactKey, conversations_resolve
from messaging.inbound.edits import edits_follow
from messaging.inbound.media import media_attachments_plan_many
from messaging.inbound.store.drafts import MessageDraft
from messaging.inbound.store.stamps import drafts_stamped
from messaging.lifetimes import MessageStamp
from messaging.models import Contact, Conversation, Direction, Message
from messaging.providers.registry import message_public
from messaging.statuses import parked_statuses_apply
from messaging.watermarks import parked_receipts_apply


def messages_store(
    drafts: Sequence[MessageDraft], *, contacts: dict[ContactKey, Contact], received_at: datetime
) -> Counter[str]:
    """Insert the drafts not stored yet (by channel and provider id) in one statement, and plan the media of
    those inserted from their drafts; count the rest. ``contacts`` comes from ``contacts_resolve`` over the
    same drafts."""
    stamped = drafts_stamped(drafts, received_at)
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
