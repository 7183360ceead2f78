"""The status engine: every status recorded once, messages moved forward only, unknown ids parked.

Works on a batch at a time (one lookup, one insert and one conditional update per batch), so a webhook
with dozens of statuses costs a handful of queries. Forward-only holds under concurrent workers because
the move is a single ``UPDATE … CASE`` whose condition names the statuses it may move from. The same
statement records when the recipient got and read the message (the earliest provider time wins) and brings
its content's expiry forward as the retention policy says (never back); its media follow.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from audit.alerts.detectors.reputation import QUALITY_ERROR_CODES, meta_quality_error_observe
from core.bulk import ColumnChange, rows_update
from core.db import rows_insert, rows_insert_keyed
from encryption.blind_index import blind_index_candidates
from messaging.business_events import (
    MESSAGE_EVENT_FIELDS,
    BusinessEvent,
    EventType,
    business_events_record,
    first_error,
    message_status_event,
)
from messaging.lifetimes import content_expiry_candidates, lifetimes_for
from messaging.models import (
    Channel,
    MediaAttachment,
    Message,
    MessageStatus,
    ParkedStatus,
    StatusEvent,
)

STATUS_RANK: dict[str, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.UNCONFIRMED: 1,
    MessageStatus.ACCEPTED: 2,
    MessageStatus.SENT: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.READ: 5,
    MessageStatus.PLAYED: 6,
}
TERMINAL = frozenset({MessageStatus.FAILED, MessageStatus.CANCELLED})
# The columns of a message ``statuses_record`` reads: its status, and what its business events name.
STATUS_MESSAGE_FIELDS = ("status", *MESSAGE_EVENT_FIELDS)
# When the recipient got the message, and read (or played) it: provider times, the earliest one wins.
MOMENT_COLUMNS: dict[str, str] = {
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.PLAYED: "read_at",
}
# The earlier of the column and the value, a NULL column counting as nothing yet (portable: SQLite has no LEAST,
# and its MIN() of a NULL is NULL). The value is given twice.
EARLIEST = "CASE WHEN {column} IS NULL OR {column} > %s THEN %s ELSE {column} END"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReport:
    """One status Meta reported for one of the business's messages."""

    channel: Channel
    provider_message_id: str
    status: str
    provider_timestamp: datetime
    received_at: datetime
    errors: list[dict[str, object]] = field(default_factory=list)
    pricing: dict[str, object] | None = None
    callback_data: str = ""


def may_advance(current: str, new: str) -> bool:
    """``failed`` is terminal and may follow ``sent`` (not ``delivered``); everything else moves up only."""
    if current in TERMINAL or (new not in STATUS_RANK and new != MessageStatus.FAILED):
        return False
    if new == MessageStatus.FAILED:
        return STATUS_RANK.get(current, 0) <= STATUS_RANK[MessageStatus.SENT]
    return STATUS_RANK[new] > STATUS_RANK.get(current, -1)


def predecessors(new: str) -> list[str]:
    """The statuses a message may hold for ``new`` to replace it."""
    return [status for status in MessageStatus.values if may_advance(status, new)]


def statuses_apply(reports: Sequence[StatusReport]) -> Counter[str]:
    """Record each report against its message, or park it until that message is stored."""
    outcomes: Counter[str] = Counter()
    known = [report for report in reports if report.status in MessageStatus.values]
    outcomes["unknown_status"] = len(reports) - len(known)
    messages = _messages_for(known)
    matched = [(messages[index], report) for index, report in enumerate(known) if index in messages]
    outcomes += statuses_record(matched)
    outcomes["parked"] += _park([report for index, report in enumerate(known) if index not in messages])
    outcomes["duplicate"] += len(known) - len(matched) - outcomes["parked"]
    return +outcomes


def statuses_record(pairs: Sequence[tuple[Message, StatusReport]]) -> Counter[str]:
    """Insert the status events that are new, then move each message to the furthest status allowed; each new
    one is a ``message.status`` business event. The messages need ``STATUS_MESSAGE_FIELDS`` loaded."""
    if not pairs:
        return Counter()
    events: dict[tuple[uuid.UUID, str], StatusEvent] = {}
    for message, report in pairs:
        events.setdefault(
            (message.pk, report.status),
            StatusEvent(
                message_id=message.pk,
                status=report.status,
                provider_timestamp=report.provider_timestamp,
                errors=report.errors,
                pricing=report.pricing,
            ),
        )
    # In key order, so two workers inserting overlapping events wait on each other instead of deadlocking.
    recorded = rows_insert_keyed([events[key] for key in sorted(events)], key=("message_id", "status"))
    fresh = [(message, report) for message, report in pairs if (message.pk, report.status) in recorded]
    _advance({message.pk: message.status for message, _ in pairs}, pairs, fresh)
    business_events_record(_status_events(fresh))
    _quality_errors_observe(fresh)
    return Counter({"status": len(recorded), "duplicate": len(pairs) - len(recorded)})


def _status_events(fresh: Iterable[tuple[Message, StatusReport]]) -> list[BusinessEvent]:
    """One ``message.status`` per status event recorded now, also one that does not move its message (a
    ``delivered`` after ``read``): it is still news to a consumer following every status, which judges the
    order by the events' times. Redeliveries record nothing, so they say nothing."""
    events: dict[tuple[uuid.UUID, str], BusinessEvent] = {}
    for message, report in fresh:
        code, title = first_error(report.errors)
        events.setdefault(
            (message.pk, report.status),
            message_status_event(
                message,
                status=report.status,
                occurred_at=report.provider_timestamp,
                error_code=code,
                error_title=title,
            ),
        )
    return list(events.values())


def _quality_errors_observe(fresh: Iterable[tuple[Message, StatusReport]]) -> None:
    """A failed status Meta explains with a spam or quality code counts for the channel's burst (new ones only:
    a redelivery recorded nothing)."""
    for message, report in fresh:
        code, _ = first_error(report.errors)
        if report.status == MessageStatus.FAILED and code in QUALITY_ERROR_CODES:
            meta_quality_error_observe(
                tenant_id=message.tenant_id, channel_id=message.channel_id, code=code, message_id=message.pk
            )


def _advance(
    current: dict[uuid.UUID, str],
    pairs: Iterable[tuple[Message, StatusReport]],
    fresh: Iterable[tuple[Message, StatusReport]],
) -> None:
    """One statement: each message to its furthest status, and the retention moments of the new events."""
    wanted: dict[uuid.UUID, list[str]] = defaultdict(list)
    for message, report in pairs:
        wanted[message.pk].append(report.status)
    changes = _retention_changes(fresh)
    for message_id, statuses in wanted.items():
        target = _furthest(current[message_id], statuses)
        if target is not None:
            allowed = predecessors(target)
            guard = f"CASE WHEN {{column}} IN ({', '.join(['%s'] * len(allowed))}) THEN %s ELSE {{column}} END"
            changes.setdefault(message_id, {})["status"] = ColumnChange(guard, [*allowed, target])
    # updated_at moves with the status in the same statement, so ``updated_since`` finds a read receipt.
    rows_update(Message, changes, same={"updated_at": ColumnChange.to(timezone.now())})
    _attachments_follow([pk for pk, row in changes.items() if "content_expires_at" in row])


def _retention_changes(fresh: Iterable[tuple[Message, StatusReport]]) -> dict[uuid.UUID, dict[str, ColumnChange]]:
    """When each message was delivered and read (provider time), and how far that brings its content's expiry
    forward under the policy in force for its channel."""
    moments: dict[uuid.UUID, dict[str, datetime]] = defaultdict(dict)
    channels: dict[uuid.UUID, Channel] = {}
    for message, report in fresh:
        column = MOMENT_COLUMNS.get(report.status)
        if column is not None:
            known = moments[message.pk].get(column, report.provider_timestamp)
            moments[message.pk][column] = min(known, report.provider_timestamp)
            channels[message.pk] = report.channel
    changes: dict[uuid.UUID, dict[str, ColumnChange]] = {}
    for message_id, row in moments.items():
        channel = channels[message_id]
        lifetimes = lifetimes_for(tenant_id=channel.tenant_id, channel_id=channel.pk)
        candidates = content_expiry_candidates(lifetimes, row.get("delivered_at"), row.get("read_at"))
        if candidates:
            row["content_expires_at"] = min(candidates)
        changes[message_id] = {name: ColumnChange(EARLIEST, [moment, moment]) for name, moment in row.items()}
    return changes


def _attachments_follow(message_ids: list[uuid.UUID]) -> None:
    """A message's files never outlive its content: bring theirs forward with it."""
    if not message_ids:
        return
    content_expiry = Message.objects.filter(pk=OuterRef("message_id")).values("content_expires_at")[:1]
    MediaAttachment.objects.filter(message_id__in=message_ids, expires_at__gt=F("message__content_expires_at")).update(
        expires_at=Subquery(content_expiry)
    )


def _furthest(current: str, statuses: Iterable[str]) -> str | None:
    """Where a message at ``current`` ends after these statuses, whatever order they arrived in."""
    position = current
    for status in sorted(statuses, key=lambda name: (name == MessageStatus.FAILED, STATUS_RANK.get(name, 0))):
        if may_advance(position, status):
            position = status
    return None if position == current else position


def _messages_for(reports: Sequence[StatusReport]) -> dict[int, Message]:
    """Report position → its message, by provider id (blind index), else by our id in the callback data."""
    found: dict[int, Message] = {}
    by_channel: dict[uuid.UUID, list[int]] = defaultdict(list)
    for position, report in enumerate(reports):
        by_channel[report.channel.pk].append(position)
    for positions in by_channel.values():
        found.update(_messages_on_channel([reports[position] for position in positions], positions))
    return found


def _messages_on_channel(reports: list[StatusReport], positions: list[int]) -> dict[int, Message]:
    channel = reports[0].channel
    candidates = _index_candidates(Message, channel, [report.provider_message_id for report in reports])
    rows = Message.objects.filter(channel=channel, provider_message_index__in=list(candidates)).only(
        *STATUS_MESSAGE_FIELDS, "provider_message_index"
    )
    by_value = {candidates[bytes(row.provider_message_index)]: row for row in rows}
    callback_ids = {report.callback_data for report in reports if _is_uuid(report.callback_data)}
    by_callback = {
        str(row.pk): row
        for row in Message.objects.filter(channel=channel, pk__in=callback_ids).only(*STATUS_MESSAGE_FIELDS)
    }
    found: dict[int, Message] = {}
    for position, report in zip(positions, reports, strict=True):
        message = by_value.get(report.provider_message_id) or by_callback.get(report.callback_data)
        if message is not None:
            found[position] = message
    return found


def _index_candidates(
    model: type[Message] | type[ParkedStatus], channel: Channel, values: list[str]
) -> dict[bytes, str]:
    """Every index value each provider id has under the tenant's readable keys, mapped back to the id."""
    candidates: dict[bytes, str] = {}
    for value in set(values):
        for candidate in blind_index_candidates(
            model, "provider_message_index", tenant_id=channel.tenant_id, value=value
        ):
            candidates[candidate] = value
    return candidates


def _park(reports: Sequence[StatusReport]) -> int:
    """Keep statuses whose message is not stored yet; the unique constraint drops redeliveries."""
    if not reports:
        return 0
    rows = {
        (report.channel.pk, report.provider_message_id, report.status): ParkedStatus(
            tenant_id=report.channel.tenant_id,
            channel=report.channel,
            received_at=report.received_at,
            provider_message_id=report.provider_message_id,
            status=report.status,
            provider_timestamp=report.provider_timestamp,
            callback_data=report.callback_data[:64],
            errors=report.errors,
            pricing=report.pricing,
        )
        for report in reports
    }
    parked = rows_insert(list(rows.values()))
    business_events_record([_parked_event(row) for row in rows.values() if row.pk in parked])
    return len(parked)


def _parked_event(row: ParkedStatus) -> BusinessEvent:
    """``message.status_parked``: a status waits for its message (never its provider id, which may embed the
    customer's number); ``parked`` is its id in ``/api/v1/parked-statuses/``."""
    return BusinessEvent(
        type=EventType.MESSAGE_STATUS_PARKED,
        tenant_id=row.tenant_id,
        occurred_at=row.provider_timestamp,
        channel_id=row.channel_id,
        facts={"status": row.status, "parked": str(row.pk)},
    )


def parked_statuses_apply(*, messages: Sequence[Message]) -> int:
    """Apply (then drop) the statuses that arrived before these outbound messages were stored."""
    applied = 0
    by_channel: dict[uuid.UUID, list[Message]] = defaultdict(list)
    for message in messages:
        by_channel[message.channel_id].append(message)
    for channel_messages in by_channel.values():
        applied += _parked_apply_on_channel(channel_messages)
    return applied


def _parked_apply_on_channel(messages: list[Message]) -> int:
    channel = messages[0].channel
    by_value = {message.provider_message_id: message for message in messages}
    candidates = _index_candidates(ParkedStatus, channel, list(by_value))
    parked = list(ParkedStatus.objects.filter(channel=channel, provider_message_index__in=list(candidates)))
    pairs = [
        (
            by_value[candidates[bytes(row.provider_message_index)]],
            StatusReport(
                channel=channel,
                provider_message_id=row.provider_message_id,
                status=row.status,
                provider_timestamp=row.provider_timestamp,
                received_at=row.received_at,
                errors=list(row.errors),
                pricing=row.pricing,
                callback_data=row.callback_data,
            ),
        )
        for row in parked
    ]
    statuses_record(pairs)
    ParkedStatus.objects.filter(pk__in=[row.pk for row in parked]).delete()
    return len(pairs)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
