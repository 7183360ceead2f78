"""The bench's channels and its queued messages, written as the send API writes them; what became of them."""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from _lib.simulator import Simulator
from _lib.statistics import percentile
from _lib.tenants import tenant_app_create

from _dispatch.processes import APP_SECRET, SIM_TOKEN, simulator_channel

if TYPE_CHECKING:
    from messaging.models import Channel, Contact, Conversation, Message

PROVIDER_BASE = 106_540_352_300_000  # provider ids of the bench's channels: PROVIDER_BASE + index
POLL_SECONDS = 0.2
BULK_BATCH = 1000  # rows per INSERT: PostgreSQL takes at most 65,535 parameters in one statement


def register(channels: int, rate: int, sim: Simulator, sink_url: str, *, statuses: bool) -> list[Channel]:
    from messaging.channels import channel_add
    from messaging.models import Channel, Platform

    tenant, app, actor = tenant_app_create("Bench dispatch", f"bench-dispatch-{os.getpid()}", APP_SECRET)
    created = [
        channel_add(
            tenant=tenant,
            meta_app=app,
            platform=Platform.WHATSAPP,
            provider_id=str(PROVIDER_BASE + index),
            access_token=SIM_TOKEN,
            actor=actor,
        )
        for index in range(channels)
    ]
    Channel.objects.filter(pk__in=[channel.pk for channel in created]).update(max_messages_per_second=rate)
    sim.request(
        "POST",
        "/_sim/channels",
        {
            "channels": [
                simulator_channel(channel.provider_id, SIM_TOKEN, sink_url, statuses=statuses) for channel in created
            ]
        },
    )
    return list(Channel.objects.filter(pk__in=[channel.pk for channel in created]).order_by("provider_id"))


def text_content(index: int) -> dict[str, Any]:
    return {"v": 1, "platform": "whatsapp", "type": "text", "text": {"body": f"Bench {index}", "preview_url": False}}


@dataclass(frozen=True)
class Recipient:
    """A customer of one bench channel with the conversation a send to it belongs to, and its serial number."""

    channel: Channel
    contact: Contact
    conversation: Conversation
    number: int


def recipients_create(channels: list[Channel], count: int, *, serial: Iterator[int]) -> list[Recipient]:
    """``count`` customers, channels taking turns, each of its own (the pair rate never binds), with their subject
    keys and conversations: written in bulk, a few statements per thousand."""
    from django.db import transaction

    from encryption.querysets import fresh_scope_keys_create
    from messaging.models import Contact, Conversation

    numbers = [next(serial) for _ in range(count)]
    owners = [channels[index % len(channels)] for index in range(count)]
    new_contacts = [
        Contact(tenant_id=channel.tenant_id, platform=channel.platform, external_id=f"1555{number:07d}")
        for channel, number in zip(owners, numbers, strict=True)
    ]
    for start in range(0, count, BULK_BATCH):  # one insert for each batch's subject keys
        fresh_scope_keys_create(new_contacts[start : start + BULK_BATCH], "external_id")
    with transaction.atomic():
        contacts = Contact.objects.bulk_create(new_contacts, batch_size=BULK_BATCH)
        conversations = Conversation.objects.bulk_create(
            [
                Conversation(tenant_id=channel.tenant_id, channel=channel, contact=contact)
                for channel, contact in zip(owners, contacts, strict=True)
            ],
            batch_size=BULK_BATCH,
        )
    return [Recipient(*row) for row in zip(owners, contacts, conversations, numbers, strict=True)]


def messages_queue(channels: list[Channel], count: int, *, serial: Iterator[int]) -> list[uuid.UUID]:
    """``count`` queued text messages, channels taking turns, each to a customer of its own, with their outbox
    rows: written in bulk (the send API writes the same rows one at a time). Nothing is published: the relay
    does that."""
    from django.db import transaction
    from django.utils import timezone

    from messaging.models import Message, OutboxEntry

    now = timezone.now()
    recipients = recipients_create(channels, count, serial=serial)
    with transaction.atomic():
        messages = Message.objects.bulk_create(
            [queued_message(recipient, now) for recipient in recipients], batch_size=BULK_BATCH
        )
        OutboxEntry.objects.bulk_create(
            [
                OutboxEntry(message=message, tenant_id=message.tenant_id, channel=message.channel, available_at=now)
                for message in messages
            ],
            batch_size=BULK_BATCH,
        )
    return [message.pk for message in messages]


def queued_message(recipient: Recipient, now: datetime) -> Message:
    """A queued outbound text message to the recipient, unsaved."""
    from messaging.models import AuthorKind, Direction, Message, MessageStatus

    return Message(
        tenant_id=recipient.channel.tenant_id,
        channel=recipient.channel,
        conversation=recipient.conversation,
        contact=recipient.contact,
        direction=Direction.OUTBOUND,
        message_type="text",
        status=MessageStatus.QUEUED,
        author_kind=AuthorKind.SYSTEM,
        received_at=now,
        provider_timestamp=now,
        content=text_content(recipient.number),
    )


def message_queue_one(recipient: Recipient) -> uuid.UUID:
    """One message the way the send API writes it: message and outbox row in one transaction, ``outbound.send``
    published on commit and the outbox row stamped published (so the relay leaves it alone). Its contact and
    conversation were made beforehand (``recipients_create``): the writer's pace is the send API's own work."""
    from django.db import transaction
    from django.utils import timezone

    from core.tasks import enqueue_by_name_on_commit
    from messaging.models import OutboxEntry
    from messaging.outbound.requests import outbox_mark_published
    from messaging.task_names import SEND_TASK

    channel = recipient.channel
    now = timezone.now()
    with transaction.atomic():
        message = queued_message(recipient, now)
        message.save(force_insert=True)  # as Message.objects.create does
        OutboxEntry.objects.create(message=message, tenant_id=channel.tenant_id, channel=channel, available_at=now)
        enqueue_by_name_on_commit(
            SEND_TASK, message.pk, on_published=functools.partial(outbox_mark_published, message.pk)
        )
    return message.pk


def settled_count(ids: list[uuid.UUID]) -> Counter[str]:
    from messaging.models import Message

    counts: Counter[str] = Counter()
    for start in range(0, len(ids), 5000):
        counts.update(Message.objects.filter(pk__in=ids[start : start + 5000]).values_list("status", flat=True))
    return counts


def wait_settled(ids: list[uuid.UUID], seconds: float) -> Counter[str]:
    """Wait until no message of these channels is on its way (one indexed look a poll), then count these."""
    from messaging.models import Message, MessageStatus

    channel_ids = set(Message.objects.filter(pk__in=ids[:1000]).values_list("channel_id", flat=True).distinct())
    waiting = [MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.UNCONFIRMED]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not Message.objects.filter(channel_id__in=channel_ids, status__in=waiting).exists():
            break
        time.sleep(POLL_SECONDS)
    return settled_count(ids)


@dataclass
class Timings:
    accepted_at: list[datetime] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds
    attempts: Counter[str] = field(default_factory=Counter)

    def percentile(self, share: float) -> float:
        return percentile(self.latencies, share)


def timings(ids: list[uuid.UUID], *, queued_at: datetime | None) -> Timings:
    """From the database: each accepted attempt's finish, less the message's ``received_at`` (or ``queued_at``
    when the whole batch became available at one moment)."""
    from messaging.models import AttemptOutcome, SendAttempt

    result = Timings()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        rows = SendAttempt.objects.filter(message_id__in=chunk).values_list(
            "outcome", "finished_at", "message__received_at"
        )
        for outcome, finished_at, received_at in rows:
            result.attempts[outcome] += 1
            if outcome == AttemptOutcome.ACCEPTED and finished_at is not None:
                result.accepted_at.append(finished_at)
                result.latencies.append((finished_at - (queued_at or received_at)).total_seconds())
    return result
