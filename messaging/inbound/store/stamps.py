"""The retention stamps of the messages a delivery stores: from their arrival, or for imported chat history
from when they were sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from messaging.inbound.store.drafts import MessageDraft
from messaging.lifetimes import Lifetimes, MessageStamp, lifetimes_for, message_stamp
from messaging.models import Direction, MessageStatus

SEEN_STATUSES = frozenset({MessageStatus.READ, MessageStatus.PLAYED})
REACHED_STATUSES = SEEN_STATUSES | {MessageStatus.DELIVERED}


def drafts_stamped(drafts: Sequence[MessageDraft], received_at: datetime) -> list[tuple[MessageDraft, MessageStamp]]:
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
