"""The relay (beat): outbox rows that are due and were never published, or whose publish was lost, published
as batches of one channel, no faster than the channel may send."""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from core.ratelimit import SendBudget, send_schedule_reserve
from core.redis import RedisUnavailableError, redis_required
from core.tasks import enqueue_by_name_on_commit
from messaging.models import Channel, ChannelStatus, MessageStatus, OutboxEntry
from messaging.task_names import SEND_BATCH_TASK

logger = logging.getLogger(__name__)

DISPATCH_BATCH = 32  # messages per task the relay publishes (of one channel)
RELAY_GRACE = timedelta(seconds=5)  # a new row is published on commit by the API; the relay is the fallback
REPUBLISH_AFTER = timedelta(seconds=60)  # published this long ago and still queued: the publish was lost
RELAY_BATCH = 500
RELAY_MAX_BATCHES = 20
RELAY_AHEAD_SECONDS = 3  # at most this many seconds of a channel's rate published and unsent (see outbox_relay)


def outbox_relay(
    *, now: datetime, channel_id: uuid.UUID | None = None, grace: timedelta = RELAY_GRACE, batch: int = RELAY_BATCH
) -> int:
    """Publish outbox rows that are due on active channels and were never published (or long ago, and their
    message is still queued). Locked rows are skipped, so two relays never publish the same batch. A channel
    gets no more than RELAY_AHEAD_SECONDS of its rate published and unsent at a time: a backlog is fed to the
    workers as fast as the channel may send, not all at once (each send refused for the channel's rate costs a
    worker a lease and a requeue): its batches go with countdowns from the channel's schedule; the rest waits for
    the next run."""
    published = 0
    full: set[uuid.UUID] = set()
    for _ in range(RELAY_MAX_BATCHES):
        selected, count, filled = _relay_batch(now=now, channel_id=channel_id, grace=grace, batch=batch, full=full)
        published += count
        full |= filled
        if selected < batch:
            break
    return published


def _relay_batch(
    *, now: datetime, channel_id: uuid.UUID | None, grace: timedelta, batch: int, full: set[uuid.UUID]
) -> tuple[int, int, set[uuid.UUID]]:
    """One batch of due rows, of channels with room: (rows selected, rows published, channels now full)."""
    due = OutboxEntry.objects.filter(
        Q(published_at__isnull=True, created_at__lte=now - grace) | Q(published_at__lte=now - REPUBLISH_AFTER),
        available_at__lte=now,
        message__status=MessageStatus.QUEUED,
        channel__status=ChannelStatus.ACTIVE,
    ).exclude(channel_id__in=full)
    if channel_id is not None:
        due = due.filter(channel_id=channel_id)
    with transaction.atomic():
        rows = list(
            due.select_for_update(skip_locked=True, of=("self",))
            .order_by("available_at")
            .values_list("message_id", "channel_id")[:batch]
        )
        channels = Channel.objects.in_bulk({channel for _, channel in rows})
        room = _channels_room(channels, now=now)
        taken = [(message_id, channel) for message_id, channel in rows if _take_room(room, channel)]
        batches, scheduled_full = _batches(taken, channels)
        published = [message_id for chunk, _ in batches for message_id in chunk]
        OutboxEntry.objects.filter(message_id__in=published).update(published_at=now)
        for chunk, countdown in batches:
            enqueue_by_name_on_commit(SEND_BATCH_TASK, chunk, countdown=countdown)
    filled = {channel for channel, left in room.items() if left <= 0} | scheduled_full
    return len(rows), len(published), filled


def channel_budget(channel: Channel) -> SendBudget:
    """The channel's per-second budget alone: what its sends take one by one, and its schedule is kept under."""
    return SendBudget(
        channel_key=f"send:channel:{channel.pk}",
        channel_rate=channel.send_rate,
        guard_ms=settings.GATEWAY_SEND_RATE_GUARD_MS,
    )


def _channels_room(channels: dict[uuid.UUID, Channel], *, now: datetime) -> dict[uuid.UUID, int]:
    """How many more sends each channel may have published and unsent: RELAY_AHEAD_SECONDS of its rate, less
    its rows published recently (waiting, being sent, or given back with a countdown)."""
    channel_ids = set(channels)
    in_flight = dict(
        OutboxEntry.objects.filter(channel_id__in=channel_ids, published_at__gt=now - REPUBLISH_AFTER)
        .values("channel_id")
        .annotate(rows=Count("pk"))
        .values_list("channel_id", "rows")
    )
    return {pk: channel.send_rate * RELAY_AHEAD_SECONDS - in_flight.get(pk, 0) for pk, channel in channels.items()}


def _take_room(room: dict[uuid.UUID, int], channel_id: uuid.UUID) -> bool:
    if room.get(channel_id, 0) <= 0:
        return False
    room[channel_id] -= 1
    return True


def _batches(
    rows: list[tuple[uuid.UUID, uuid.UUID]], channels: dict[uuid.UUID, Channel]
) -> tuple[list[tuple[list[uuid.UUID], float]], set[uuid.UUID]]:
    """Tasks of up to DISPATCH_BATCH messages of one channel each, with their countdowns: their places in the
    channel's schedule (core.ratelimit), so a backlog comes due a second's rate at a time, before each second's
    guard zone, instead of all at once to be refused and given back. Channels take turns (in due order within
    each), so a long backlog on one channel does not stand in front of the others. Also returns the channels
    whose schedule had no place left within its horizon for some of their rows (those stay for a later run)."""
    by_channel: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for message_id, channel_id in rows:
        by_channel[channel_id].append(message_id)
    chunks = {channel_id: _channel_batches(ids, channels[channel_id]) for channel_id, ids in by_channel.items()}
    full = {
        channel_id
        for channel_id, batches in chunks.items()
        if sum(len(ids) for ids, _ in batches) < len(by_channel[channel_id])
    }
    turns = itertools.zip_longest(*chunks.values())
    return [chunk for turn in turns for chunk in turn if chunk], full


def _channel_batches(ids: list[uuid.UUID], channel: Channel) -> list[tuple[list[uuid.UUID], float]]:
    """The channel's rows in pieces of its schedule; without the schedule (Redis unreachable), all due now."""
    try:
        with redis_required():
            pieces = send_schedule_reserve(channel_budget(channel), len(ids), most=DISPATCH_BATCH)
    except RedisUnavailableError:
        logger.warning("send schedule unavailable, backlog published unpaced", extra={"channel": str(channel.pk)})
        pieces = [(0.0, min(DISPATCH_BATCH, len(ids) - start)) for start in range(0, len(ids), DISPATCH_BATCH)]
    batches, start = [], 0
    for wait, size in pieces:
        batches.append((ids[start : start + size], wait))
        start += size
    return batches
