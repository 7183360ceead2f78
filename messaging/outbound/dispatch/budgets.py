"""The send budgets (core.ratelimit): taken per channel once the Graph requests are built (before anything is
loaded on a channel refused here a moment ago), refused messages queued again at their place in the schedule; and
the probes (a channel's first send after a quiet spell goes alone)."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.conf import settings
from django.utils import timezone

from core.ratelimit import CHANNEL, Grant, SendBudget, send_budgets_take
from core.reach import reach_take
from messaging.models import Channel, Conversation, Message
from messaging.outbound.dispatch.calls import Outgoing
from messaging.outbound.dispatch.lease import Leased
from messaging.outbound.dispatch.relay import channel_budget
from messaging.outbound.dispatch.transitions import message_requeue, messages_requeue
from messaging.providers.registry import adapter_for

REFUSED_RECENTLY_SECONDS = 1.0  # a channel refused here this recently takes its budgets before its messages load
PROBE_AFTER_SECONDS = 30.0  # a channel with no acceptance in this process for this long: its first send goes alone
COUNTDOWN_JITTER_SECONDS = 0.3  # the least spread of messages a full second refused over the next ones


@dataclass(frozen=True, slots=True)
class DailyReach:
    """A business-initiated send's share of the messaging limit Meta grants: ``limit`` distinct recipients in a
    moving 24 hours, counted per account (``scope``; Meta counts per business)."""

    scope: str
    recipient: str
    limit: int


@dataclass(frozen=True, slots=True)
class Ticket:
    """A leased message (only the leased columns and its channel are loaded), the budget its send takes, and
    its share of the daily messaging limit when it opens a conversation outside the reply window."""

    message: Message
    budget: SendBudget
    last_attempt: int
    reach: DailyReach | None = None


def message_shells(leased: dict[uuid.UUID, Leased]) -> list[Message]:
    """The leased messages as unloaded shells with their channels (one query): enough to take their budgets."""
    channels = Channel.objects.in_bulk({row.channel_id for row in leased.values()})
    return [
        Message(
            pk=message_id,
            tenant_id=row.tenant_id,
            channel=channels[row.channel_id],
            contact_id=row.contact_id,
            message_type=row.message_type,
        )
        for message_id, row in leased.items()
    ]


def tickets_for(leased: dict[uuid.UUID, Leased], messages: list[Message] | None = None) -> list[Ticket]:
    """Each of these leased messages (loaded, or by default the lease's shells) with its budget and its share of
    the daily limit."""
    if messages is None:
        messages = message_shells(leased)
    opening = [message for message in messages if daily_reach_for(message) is not None]
    inside = _inside_reply_window(opening)
    return [
        Ticket(
            message,
            send_budget_for(message),
            leased[message.pk].last_attempt,
            None if (message.channel_id, message.contact_id) in inside else daily_reach_for(message),
        )
        for message in messages
    ]


def daily_reach_for(message: Message) -> DailyReach | None:
    """The messaging limit this send counts against, from the tier Meta granted the channel (None: the type
    does not open a business-initiated conversation, or the tier is unlimited or not known yet)."""
    channel = message.channel
    limit = channel.daily_conversation_limit
    if limit is None or not adapter_for(channel.platform).opens_business_conversation(message.message_type):
        return None
    scope = f"account:{channel.waba_id}" if channel.waba_id else f"channel:{channel.pk}"
    return DailyReach(scope=scope, recipient=str(message.contact_id), limit=limit)


def _inside_reply_window(messages: list[Message]) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(channel, contact) pairs whose reply window is open now: a send there opens no new conversation."""
    if not messages:
        return set()
    now = timezone.now()
    pairs = Conversation.objects.filter(
        channel_id__in={message.channel_id for message in messages},
        contact_id__in={message.contact_id for message in messages},
        last_inbound_at__isnull=False,
    ).values_list("channel_id", "contact_id", "last_inbound_at", "channel__platform")
    inside = set()
    for channel_id, contact_id, last_inbound_at, platform in pairs:
        window = adapter_for(platform).reply_window
        if window is not None and last_inbound_at is not None and last_inbound_at + window > now:
            inside.add((channel_id, contact_id))
    return inside


def send_budget_for(message: Message) -> SendBudget:
    """The channel's budget, and the recipient's pair rate where the platform limits it (WhatsApp, to a user)."""
    channel = message.channel
    has_pair_limit = (
        adapter_for(channel.platform).is_pair_limited(message.message_type)
        and settings.GATEWAY_SEND_PAIR_PERIOD_SECONDS > 0
    )
    return replace(
        channel_budget(channel),
        recipient_key=f"send:pair:{channel.pk}:{message.contact_id}" if has_pair_limit else None,
        pair_period_seconds=float(settings.GATEWAY_SEND_PAIR_PERIOD_SECONDS),
        pair_burst=settings.GATEWAY_SEND_PAIR_BURST,
    )


def budgets_take(tickets: list[Ticket], outcomes: Counter[str]) -> tuple[list[Ticket], float]:
    """Each channel's budgets in one script call, as late as can be: core.ratelimit's guard must cover the time
    from a grant to Meta receiving the request. Refused messages go back to ``queued`` without
    using their retry budget: one group per piece of the channel's schedule; a recipient's
    refusal on its own clock. Returns the granted tickets and the monotonic time before the grants."""
    tickets = _reach_take(tickets, outcomes)
    taken_at = time.monotonic()
    by_channel: dict[uuid.UUID, list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        by_channel[ticket.message.channel_id].append(ticket)
    granted: list[Ticket] = []
    for items in by_channel.values():
        grants = send_budgets_take([ticket.budget for ticket in items])
        channel_refused: list[tuple[Ticket, Grant]] = []
        for ticket, grant in zip(items, grants, strict=True):
            if grant.is_granted:
                granted.append(ticket)
            elif grant.refused_by == CHANNEL:
                channel_refused.append((ticket, grant))
            else:
                message_requeue(ticket.message, delay_seconds=_refusal_delay(grant), counts_as_attempt=False)
                outcomes[f"throttled_by_{grant.refused_by}"] += 1
        if channel_refused:
            refusals_record(channel_refused[0][0].message.channel_id)
            for delay, messages in _refused_groups(channel_refused):
                messages_requeue(messages, delay_seconds=delay)
            outcomes[f"throttled_by_{CHANNEL}"] += len(channel_refused)
    return granted, taken_at


def _refused_groups(refused: list[tuple[Ticket, Grant]]) -> list[tuple[float, list[Message]]]:
    """The channel's refused messages as groups due back together: one per piece of the channel's schedule
    (Redis), or all at once with one spread delay (the database's budget keeps no schedule)."""
    groups: dict[float | None, list[Message]] = defaultdict(list)
    delays: dict[float | None, float] = {}
    for ticket, grant in refused:
        piece = grant.wait_seconds if grant.is_scheduled else None
        delays.setdefault(piece, _refusal_delay(grant))
        groups[piece].append(ticket.message)
    return [(delays[piece], messages) for piece, messages in groups.items()]


def _reach_take(tickets: list[Ticket], outcomes: Counter[str]) -> list[Ticket]:
    """Each business-initiated send takes its recipient's place in the account's daily limit, or waits (without
    using its retry budget) until the oldest recipient of the moving day leaves it."""
    kept = []
    for ticket in tickets:
        reach = ticket.reach
        taken = None if reach is None else reach_take(scope=reach.scope, recipient=reach.recipient, limit=reach.limit)
        if taken is None or taken.is_granted:
            kept.append(ticket)
            continue
        message_requeue(ticket.message, delay_seconds=max(taken.wait_seconds, 1.0), counts_as_attempt=False)
        outcomes["throttled_by_daily_limit"] += 1
    return kept


def _refusal_delay(grant: Grant) -> float:
    if grant.is_scheduled:  # the channel's schedule already spread the backlog at its rate
        return grant.wait_seconds
    spread = max(grant.backlog_seconds, COUNTDOWN_JITTER_SECONDS)
    return grant.wait_seconds + random.uniform(0, spread)  # noqa: S311 - jitter, not security


def probes_split(outgoing: list[Outgoing]) -> tuple[list[Outgoing], list[Outgoing]]:
    """One send per channel that has more than one in the batch and no recent acceptance in this process."""
    moment = time.monotonic()
    counts = Counter(item.message.channel_id for item in outgoing)
    probes: dict[uuid.UUID, Outgoing] = {}
    for item in outgoing:
        channel_id = item.message.channel_id
        recent = moment - _channels_accepted.get(channel_id, -PROBE_AFTER_SECONDS) < PROBE_AFTER_SECONDS
        if counts[channel_id] > 1 and not recent and channel_id not in probes:
            probes[channel_id] = item
    chosen = {id(item) for item in probes.values()}
    return list(probes.values()), [item for item in outgoing if id(item) not in chosen]


_channels_accepted: dict[uuid.UUID, float] = {}  # channel id -> monotonic time of its last acceptance here


def acceptances_record(channel_ids: Iterable[uuid.UUID]) -> None:
    """These channels had a send accepted just now: their next sends need no probe."""
    seen_at = time.monotonic()
    _channels_accepted.update(dict.fromkeys(channel_ids, seen_at))


_channels_refused: dict[uuid.UUID, float] = {}  # channel id -> monotonic time of its last refusal here


def refusals_record(channel_id: uuid.UUID) -> None:
    """The channel's budget refused a send just now: for a while its messages take their budgets before they
    are loaded, so a backlog refused again and again costs no load and no decryption each time."""
    _channels_refused[channel_id] = time.monotonic()


def is_refused_recently(channel_id: uuid.UUID) -> bool:
    refused_at = _channels_refused.get(channel_id)
    if refused_at is None:
        return False
    if time.monotonic() - refused_at < REFUSED_RECENTLY_SECONDS:
        return True
    _channels_refused.pop(channel_id, None)  # the memo holds only channels refused within the last second or so
    return False
