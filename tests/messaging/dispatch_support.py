"""Machinery for dispatcher runs against the real simulator and real worker processes: a channel configured on
both sides, queued messages written the way the send API writes them (message + outbox row, one transaction),
outbound workers with their own settings, and a pump that plays beat (the relay and the sweeper).

Meant for the long reliability runs too (1,000 sends with faults, workers killed mid-send): see
``outbound_workers`` (kill one with ``process.kill()``) and ``settled``.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.dispatch import outbound_sweep, outbox_relay
from messaging.models import (
    AuthorKind,
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MetaApp,
    OutboxEntry,
    Platform,
)
from messaging.services import channel_add, meta_app_register
from tests.conftest import worker_process
from tests.simulator.conftest import SimulatorClient

SIM_TOKEN = "dispatch-test-token-0001"
APP_SECRET = "dispatch-test-app-secret"
SETTLED = frozenset(
    {
        MessageStatus.ACCEPTED,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
        MessageStatus.FAILED,
    }
)
DELIVERED_TO_META = frozenset({MessageStatus.ACCEPTED, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ})


def meta_app_for(tenant: Tenant) -> MetaApp:
    return meta_app_register(tenant=tenant, name="Dispatch app", app_secret=APP_SECRET, actor=CLI_ACTOR).meta_app


def channel_pair(
    simulator: SimulatorClient,
    meta_app: MetaApp,
    *,
    provider_id: str,
    send_rate: int = 80,
    token: str = SIM_TOKEN,
    **simulator_fields: Any,
) -> Channel:
    """A WhatsApp channel in the gateway and its twin in the simulator (by default
    unlimited, no window, no pair limit, no status webhooks: override with ``simulator_fields``).
    ``send_rate`` is the gateway channel's ``max_messages_per_second``."""
    assert meta_app.tenant is not None
    channel = channel_add(
        tenant=meta_app.tenant,
        meta_app=meta_app,
        platform=Platform.WHATSAPP,
        provider_id=provider_id,
        access_token=token,
        actor=CLI_ACTOR,
    )
    Channel.objects.filter(pk=channel.pk).update(max_messages_per_second=send_rate)
    channel.refresh_from_db()
    fields: dict[str, Any] = {
        "provider_id": provider_id,
        "access_token": SIM_TOKEN,
        "app_secret": APP_SECRET,
        "mps": 100_000,
        "pair_period_seconds": 0,
        "enforce_window": False,
        "status_delays_ms": None,
        **simulator_fields,
    }
    simulator.channel_add(**fields)
    return channel


def text_content(body: str = "Hello from the dispatcher tests") -> dict[str, Any]:
    return {"v": 1, "platform": "whatsapp", "type": "text", "text": {"body": body, "preview_url": False}}


def queued_messages(channel: Channel, recipients: Sequence[str]) -> list[Message]:
    """One queued text message per recipient (a phone number; repeat one to send it several), with its
    outbox row, as the send API writes them. Nothing is published: the relay does that."""
    contacts: dict[str, tuple[Contact, Conversation]] = {}
    messages = []
    for recipient in recipients:
        if recipient not in contacts:
            contact = Contact.objects.create(tenant=channel.tenant, platform=channel.platform, external_id=recipient)
            conversation = Conversation.objects.create(tenant=channel.tenant, channel=channel, contact=contact)
            contacts[recipient] = (contact, conversation)
        contact, conversation = contacts[recipient]
        now = timezone.now()
        with transaction.atomic():
            message = Message(
                tenant=channel.tenant,
                channel=channel,
                conversation=conversation,
                contact=contact,
                direction=Direction.OUTBOUND,
                message_type="text",
                status=MessageStatus.QUEUED,
                author_kind=AuthorKind.SYSTEM,
                received_at=now,
                provider_timestamp=now,
                content=text_content(),
            )
            message.save()
            OutboxEntry.objects.create(message=message, tenant=channel.tenant, channel=channel, available_at=now)
        messages.append(message)
    return messages


def phone_numbers(count: int, *, start: int = 0) -> list[str]:
    return [f"1555{start + index:07d}" for index in range(count)]


def worker_env(simulator_url: str, **overrides: str) -> dict[str, str]:
    """Settings for outbound workers: Graph is the simulator; short timeouts and backoff."""
    return {
        "GATEWAY_GRAPH_BASE_URL": simulator_url,
        "GATEWAY_SEND_TIMEOUT": "2",
        "GATEWAY_SEND_BACKOFF_SECONDS": "1",
        "GATEWAY_SEND_BACKOFF_MAX_SECONDS": "2",
        "GATEWAY_LOG_LEVEL": "WARNING",  # worker_process pipes stderr and reads it only on failure: keep it short
        **overrides,
    }


@contextmanager
def outbound_workers(count: int, env: dict[str, str], *queues: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` real worker processes on the outbound queue (and ``queues``), stopped afterwards."""
    with ExitStack() as stack:
        yield [stack.enter_context(worker_process("outbound", *queues, env=env)) for _ in range(count)]


class DispatchPump:
    """Beat's part, in a thread: the relay (and the sweeper when asked) every ``interval`` seconds."""

    def __init__(self, *, sweeps: bool, interval: float = 0.3) -> None:
        self.sweeps = sweeps
        self.interval = interval
        self.stopped = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                outbox_relay(now=timezone.now(), grace=timedelta(0))
                if self.sweeps:
                    outbound_sweep(now=timezone.now())
                self.stopped.wait(self.interval)
        except BaseException as error:
            self.errors.append(error)
        finally:
            connection.close()


@contextmanager
def dispatch_pump(*, sweeps: bool = True) -> Iterator[DispatchPump]:
    pump = DispatchPump(sweeps=sweeps)
    pump.thread.start()
    try:
        yield pump
    finally:
        pump.stopped.set()
        pump.thread.join(timeout=30)
    if pump.errors:
        raise pump.errors[0]


def statuses(messages: Iterable[Message]) -> dict[str, str]:
    ids = [message.pk for message in messages]
    return {str(pk): status for pk, status in Message.objects.filter(pk__in=ids).values_list("pk", "status")}


def settled(messages: Sequence[Message]) -> bool:
    return all(status in SETTLED for status in statuses(messages).values())
