"""The lease: ``queued → sending`` for one worker only, and why the messages it did not win were not won."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, router

from core.bulk import quoted_column
from encryption import keyring
from encryption.envelope import key_id_of
from encryption.errors import DecryptionError
from encryption.fields import Sealed
from messaging.models import Channel, ChannelStatus, Message, MessageStatus, OutboxEntry, SendAttempt
from messaging.outbound.dispatch.relay import REPUBLISH_AFTER

LEASE_MARGIN_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Leased:
    """What the lease returns of one message: enough to take its budgets without loading it."""

    last_attempt: int  # the number of its last attempt row (0: none yet)
    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    contact_id: uuid.UUID
    message_type: str


def messages_lease(*, message_ids: Sequence[uuid.UUID], now: datetime) -> dict[uuid.UUID, Leased]:
    """``queued → sending`` for one worker only, for every message that is due on an active channel; returns
    the ids this call leased, each with the number of its last attempt (0 for none) and the columns its budgets
    need. One ``UPDATE … RETURNING``.
    The condition is on the message's own columns (the channel's status through ``channel_id IN``, no join),
    so PostgreSQL re-checks it on a row a concurrent worker just changed and the loser matches nothing."""
    if not message_ids:
        return {}
    lease = max(
        settings.GATEWAY_SEND_LEASE_SECONDS,
        settings.GATEWAY_SEND_TIMEOUT + settings.GATEWAY_HTTP_CONNECT_TIMEOUT + LEASE_MARGIN_SECONDS,
    )
    connection = connections[router.db_for_write(Message)]
    quote = connection.ops.quote_name
    message_table, channel_table, attempt_table = (
        quote(model._meta.db_table) for model in (Message, Channel, SendAttempt)
    )
    status, pk, next_attempt_at, lease_expires_at, updated_at, channel, tenant, contact, message_type = (
        quoted_column(Message, name, connection)
        for name in (
            "status",
            "id",
            "next_attempt_at",
            "lease_expires_at",
            "updated_at",
            "channel",
            "tenant",
            "contact",
            "message_type",
        )
    )
    number, attempt_message = (quoted_column(SendAttempt, name, connection) for name in ("number", "message"))
    sql = (  # quoted names from the models' metadata; every value is a parameter
        f"UPDATE {message_table} SET {status} = %s, {lease_expires_at} = %s, {updated_at} = %s"  # noqa: S608
        f" WHERE {pk} IN ({', '.join(['%s'] * len(message_ids))}) AND {status} = %s"
        f" AND ({next_attempt_at} IS NULL OR {next_attempt_at} <= %s)"
        f" AND {channel} IN (SELECT {quoted_column(Channel, 'id', connection)} FROM {channel_table}"
        f" WHERE {quoted_column(Channel, 'status', connection)} = %s)"
        f" RETURNING {pk}, (SELECT COALESCE(MAX({number}), 0) FROM {attempt_table}"
        f" WHERE {attempt_table}.{attempt_message} = {message_table}.{pk}), {tenant}, {channel}, {contact},"
        f" {message_type}"
    )
    moment = Message._meta.get_field("lease_expires_at")
    pk_field = Message._meta.get_field("id")
    params = [
        MessageStatus.SENDING.value,
        moment.get_db_prep_value(now + timedelta(seconds=lease), connection),
        moment.get_db_prep_value(now, connection),
        *(pk_field.get_db_prep_value(message_id, connection) for message_id in message_ids),
        MessageStatus.QUEUED.value,
        moment.get_db_prep_value(now, connection),
        ChannelStatus.ACTIVE.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            _uuid(value): Leased(int(last), _uuid(tenant_id), _uuid(channel_id), _uuid(contact_id), str(kind))
            for value, last, tenant_id, channel_id, contact_id, kind in cursor.fetchall()
        }


def messages_waiting(*, now: datetime, limit: int, besides: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Up to ``limit`` messages already published and waiting for a worker (queued, due, on an active channel,
    their outbox row published recently: their task is in the broker), oldest first, ``besides`` left out.
    A worker that has one send in hand takes these along instead of leaving them behind it in the queue; their
    own tasks then find nothing to lease. Rows never published are the relay's, which paces a backlog."""
    if limit <= 0:
        return []
    return list(
        OutboxEntry.objects.filter(
            published_at__gt=now - REPUBLISH_AFTER,
            available_at__lte=now,
            message__status=MessageStatus.QUEUED,
            channel__status=ChannelStatus.ACTIVE,
        )
        .exclude(message_id__in=besides)
        .order_by("available_at")
        .values_list("message_id", flat=True)[:limit]
    )


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def not_leased(message_ids: set[uuid.UUID], now: datetime) -> Counter[str]:
    """Why there was nothing to do. A held or early message gets its outbox row back into the relay's view."""
    outcomes: Counter[str] = Counter()
    if not message_ids:
        return outcomes
    rows = list(Message.objects.filter(pk__in=message_ids).values_list("pk", "status", "channel__status"))
    outcomes["missing"] = len(message_ids) - len(rows)
    waiting = [pk for pk, status, _ in rows if status == MessageStatus.QUEUED]
    if waiting:
        OutboxEntry.objects.filter(message_id__in=waiting).update(published_at=None)
    for _, status, channel_status in rows:
        if status != MessageStatus.QUEUED:
            outcomes["not_queued"] += 1
        elif channel_status != ChannelStatus.ACTIVE:
            outcomes["held"] += 1
        else:
            outcomes["not_due"] += 1
    return +outcomes


def leased_messages_load(message_ids: list[uuid.UUID]) -> list[Message]:
    """The leased messages with their contacts; each channel loaded once (its token is opened once), and the
    keys of their sealed values (a subject key per contact) in one query."""
    messages = list(Message.objects.select_related("contact", "channel").filter(pk__in=message_ids))
    channels: dict[uuid.UUID, Channel] = {}
    for message in messages:
        message.channel = channels.setdefault(message.channel_id, message.channel)
    sealed = [message.contact.__dict__.get("external_id") for message in messages]
    sealed += [message.__dict__.get("content") for message in messages]
    keyring.ciphers_prefetch(
        {key_id_of(value) for value in sealed if isinstance(value, Sealed) and _is_envelope(value)}
    )
    return messages


def _is_envelope(value: bytes) -> bool:
    try:
        key_id_of(value)
    except DecryptionError:
        return False
    return True
