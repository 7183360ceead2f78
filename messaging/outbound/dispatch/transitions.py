"""The bottom floor: every move of a message's status the dispatcher makes on an answer (accepted, queued
again, held, unconfirmed, failed) and the outbox row that goes with it; a move to ``accepted`` or ``failed`` is a
``message.status`` business event, recorded in the same transaction. Imports nothing else of the dispatcher."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F
from django.utils import timezone

from core.bulk import ColumnChange, RowCondition, quoted_column, rows_update, rows_update_where
from core.send_schedule import SCHEDULE_HORIZON_MS
from core.tasks import enqueue_by_name_on_commit
from messaging.business_events import MESSAGE_EVENT_FIELDS, business_events_record, message_status_event
from messaging.models import Direction, Message, MessageStatus, OutboxEntry, ParkedReceipt, ParkedStatus
from messaging.statuses import parked_statuses_apply, predecessors
from messaging.task_names import SEND_BATCH_TASK, SEND_TASK
from messaging.watermarks import parked_receipts_apply

if TYPE_CHECKING:
    from encryption.fields import EncryptedField


# A longer wait is left to the relay (rows polled by beat, never long ETAs); the channel's schedule gives no place
# further ahead, so a send refused for the rate is either given its place with a countdown or left to the relay.
COUNTDOWN_MAX_SECONDS = SCHEDULE_HORIZON_MS / 1000


def messages_accept(accepted: Sequence[tuple[Message, str | None]]) -> None:
    """Store each provider id (sealed and blind-indexed by the fields themselves, as ``save`` would) even when a
    status webhook already moved the message further, and move to ``accepted`` the messages nothing moved yet
    (the ``message.status`` events name exactly those: the rows the conditional UPDATE returns, re-checked by
    the database against a concurrent change); their outbox rows go. One UPDATE for the batch (a second one only
    for messages a status webhook moved first), the outbox rows and the events, in the caller's transaction
    when there is one (no savepoint: all of it or nothing)."""
    if not accepted:
        return
    id_field = cast("EncryptedField", Message._meta.get_field("provider_message_id"))
    index_field = Message._meta.get_field("provider_message_index")
    provider_ids: dict[uuid.UUID, dict[str, ColumnChange]] = {message.pk: {} for message, _ in accepted}
    for message, provider_message_id in accepted:
        if provider_message_id:
            message.provider_message_id = provider_message_id
            provider_ids[message.pk] = {
                "provider_message_id": ColumnChange.to(id_field.pre_save(message, False)),
                "provider_message_index": ColumnChange.to(index_field.pre_save(message, False)),
            }
    allowed = predecessors(MessageStatus.ACCEPTED)
    now = timezone.now()
    settled = {name: ColumnChange.to(None) for name in ("lease_expires_at", "next_attempt_at")}
    settled["updated_at"] = ColumnChange.to(now)
    with transaction.atomic(savepoint=False):
        moved = rows_update_where(
            Message,
            provider_ids,
            where=_status_in(allowed),
            same={**settled, "status": ColumnChange.to(MessageStatus.ACCEPTED.value)},
        )
        ahead = {message_id: changes for message_id, changes in provider_ids.items() if message_id not in moved}
        rows_update(Message, ahead, same=settled)
        OutboxEntry.objects.filter(message_id__in=list(provider_ids)).delete()
        business_events_record(
            [
                message_status_event(message, status=MessageStatus.ACCEPTED, occurred_at=now)
                for message, _ in accepted
                if message.pk in moved
            ]
        )


def _status_in(statuses: Sequence[str]) -> RowCondition:
    connection = connections[router.db_for_write(Message)]
    column = quoted_column(Message, "status", connection)
    return RowCondition(f"{column} IN ({', '.join(['%s'] * len(statuses))})", [str(status) for status in statuses])


def message_accept(message: Message, *, provider_message_id: str | None) -> None:
    """``messages_accept`` for one message, then the statuses that raced the answer."""
    messages_accept([(message, provider_message_id)])
    parked_statuses_follow([message])


def parked_statuses_follow(messages: list[Message]) -> None:
    """Statuses parked before these provider ids were stored, and kept watermarks (Messenger, Instagram) that
    cover them, on the channels that have any parked at all (a status carrying our id in its callback data finds
    the message without parking, so most have none): one query to learn which."""
    with_ids = [message for message in messages if message.provider_message_id]
    if not with_ids:
        return
    channels = _channels_with_parked({message.channel_id for message in with_ids})
    if channels:
        with transaction.atomic():
            followed = [message for message in with_ids if message.channel_id in channels]
            parked_statuses_apply(messages=followed)
            parked_receipts_apply(messages=followed)


def _channels_with_parked(channel_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these channels have a status or a watermark parked: one ``UNION`` of two index lookups, written
    out (the ORM compiles a union on every send for more than the statement costs)."""
    connection = connections[router.db_for_read(ParkedStatus)]
    field = Message._meta.get_field("channel_id")
    params = [field.get_db_prep_value(channel_id, connection) for channel_id in channel_ids]
    placeholders = ", ".join(["%s"] * len(params))
    selects = [
        f"SELECT {quoted_column(model, 'channel', connection)} FROM {connection.ops.quote_name(model._meta.db_table)}"  # noqa: S608
        f" WHERE {quoted_column(model, 'channel', connection)} IN ({placeholders})"
        for model in (ParkedStatus, ParkedReceipt)
    ]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ".join(selects), params * 2)
        return {field.to_python(row[0]) for row in cursor.fetchall()}


def message_requeue(message: Message, *, delay_seconds: float, counts_as_attempt: bool) -> None:
    """``sending → queued``, due after the delay. A short delay is published at once with a countdown; a
    longer one is left to the relay, which publishes the outbox row when it is due."""
    now = timezone.now()
    due_at = now + timedelta(seconds=delay_seconds)
    is_short = delay_seconds <= COUNTDOWN_MAX_SECONDS
    with transaction.atomic():
        moved = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED,
            next_attempt_at=due_at,
            lease_expires_at=None,
            attempt_count=F("attempt_count") + int(counts_as_attempt),
            updated_at=now,
        )
        if not moved:
            return
        _outbox_set(message, available_at=due_at, published_at=now if is_short else None)
        if is_short:
            enqueue_by_name_on_commit(SEND_TASK, message.pk, countdown=delay_seconds)


def messages_requeue(messages: Sequence[Message], *, delay_seconds: float) -> None:
    """``message_requeue`` for a group of leased messages with one delay (throttled, or never called: no
    retry budget used), republished as one batch. A few statements for the group."""
    if not messages:
        return
    now = timezone.now()
    due_at = now + timedelta(seconds=delay_seconds)
    is_short = delay_seconds <= COUNTDOWN_MAX_SECONDS
    ids = [message.pk for message in messages]
    with transaction.atomic():
        moved = Message.objects.filter(pk__in=ids, status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED, next_attempt_at=due_at, lease_expires_at=None, updated_at=now
        )
        if not moved:
            return
        published_at = now if is_short else None
        updated = OutboxEntry.objects.filter(message_id__in=ids).update(available_at=due_at, published_at=published_at)
        if updated < len(ids):  # a row gone missing: the relay must still see the message
            present = set(OutboxEntry.objects.filter(message_id__in=ids).values_list("message_id", flat=True))
            for message in messages:
                if message.pk not in present:
                    _outbox_set(message, available_at=due_at, published_at=published_at)
        if is_short:
            enqueue_by_name_on_commit(SEND_BATCH_TASK, ids, countdown=delay_seconds)


def message_hold(message: Message) -> None:
    """Back to ``queued`` on a paused channel: the relay publishes it once the channel is resumed."""
    with transaction.atomic():
        moved = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED, next_attempt_at=None, lease_expires_at=None, updated_at=timezone.now()
        )
        if moved:
            _outbox_set(message, available_at=timezone.now(), published_at=None)


def message_unconfirm(message: Message) -> None:
    """The call may have reached Meta: wait for a status webhook; resend only after the silence."""
    now = timezone.now()
    Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
        status=MessageStatus.UNCONFIRMED,
        lease_expires_at=None,
        next_attempt_at=now + timedelta(seconds=settings.GATEWAY_SEND_UNCONFIRMED_SILENCE),
        attempt_count=F("attempt_count") + 1,
        updated_at=now,
    )


def message_fail(message: Message, *, code: int | None, title: str) -> None:
    with transaction.atomic():
        failed = Message.objects.filter(
            pk=message.pk, status__in=[MessageStatus.SENDING, MessageStatus.UNCONFIRMED, MessageStatus.QUEUED]
        ).update(
            status=MessageStatus.FAILED,
            failure_code=code,
            failure_title=title[:200],
            lease_expires_at=None,
            next_attempt_at=None,
            updated_at=timezone.now(),
        )
        if failed:
            OutboxEntry.objects.filter(message_id=message.pk).delete()
            business_events_record(
                [
                    message_status_event(
                        message,
                        status=MessageStatus.FAILED,
                        occurred_at=timezone.now(),
                        error_code=code,
                        error_title=title,
                    )
                ]
            )


def leases_expired_unconfirm(message_ids: Sequence[uuid.UUID], *, now: datetime) -> int:
    """``sending`` past its lease → ``unconfirmed`` (a worker died mid-send, Meta's answer unknown): sent again
    after the silence unless a status webhook settles it first. Conditional on the status and the lease."""
    return Message.objects.filter(pk__in=message_ids, status=MessageStatus.SENDING, lease_expires_at__lt=now).update(
        status=MessageStatus.UNCONFIRMED,
        lease_expires_at=None,
        next_attempt_at=now + timedelta(seconds=settings.GATEWAY_SEND_UNCONFIRMED_SILENCE),
        attempt_count=F("attempt_count") + 1,
        updated_at=now,
    )


def silences_settle(silent: Sequence[tuple[uuid.UUID, int]], *, now: datetime) -> tuple[int, int]:
    """``unconfirmed`` messages whose silence lasted (pk, attempts made): ``queued`` again with their outbox row
    due now, or ``failed`` once the retry budget is spent (locked first, so the ``message.status`` events name
    exactly those). Returns (requeued, failed)."""
    limit = settings.GATEWAY_SEND_MAX_TRANSIENT_ATTEMPTS
    spent = [pk for pk, count in silent if count >= limit]
    retry = [pk for pk, count in silent if count < limit]
    title = f"No answer from Meta after {limit} attempts"
    with transaction.atomic():
        failing = list(
            Message.objects.filter(pk__in=spent, status=MessageStatus.UNCONFIRMED)
            .order_by("pk")
            .select_for_update()
            .only(*MESSAGE_EVENT_FIELDS)
        )
        failed = Message.objects.filter(pk__in=[message.pk for message in failing]).update(
            status=MessageStatus.FAILED, failure_title=title, next_attempt_at=None, updated_at=now
        )
        OutboxEntry.objects.filter(message_id__in=spent, message__status=MessageStatus.FAILED).delete()
        business_events_record(
            [
                message_status_event(message, status=MessageStatus.FAILED, occurred_at=now, error_title=title)
                for message in failing
            ]
        )
        requeued = Message.objects.filter(
            pk__in=retry, status=MessageStatus.UNCONFIRMED, next_attempt_at__lte=now
        ).update(status=MessageStatus.QUEUED, next_attempt_at=None, updated_at=now)
        OutboxEntry.objects.filter(message_id__in=retry, message__status=MessageStatus.QUEUED).update(
            available_at=now, published_at=None
        )
    return requeued, failed


def message_cancel_if_queued(*, tenant_id: uuid.UUID, message_id: uuid.UUID, now: datetime) -> bool:
    """``queued`` → ``cancelled`` (scheduled ones too) with its outbox row gone, by a conditional update: a
    message a worker leased is no longer queued. False when it was not the tenant's queued outbound message."""
    with transaction.atomic():
        cancelled = Message.objects.filter(
            pk=message_id, tenant_id=tenant_id, direction=Direction.OUTBOUND, status=MessageStatus.QUEUED
        ).update(status=MessageStatus.CANCELLED, next_attempt_at=None, updated_at=now)
        if cancelled:
            OutboxEntry.objects.filter(message_id=message_id).delete()
    return bool(cancelled)


def _outbox_set(message: Message, *, available_at: datetime, published_at: datetime | None) -> None:
    OutboxEntry.objects.update_or_create(
        message_id=message.pk,
        defaults={"available_at": available_at, "published_at": published_at},
        create_defaults={
            "tenant_id": message.tenant_id,
            "channel_id": message.channel_id,
            "available_at": available_at,
            "published_at": published_at,
        },
    )
