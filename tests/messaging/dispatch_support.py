"""Machinery for dispatcher runs against the real simulator and real worker processes: a channel configured on
both sides, queued messages written the way the send API writes them (message + outbox row, one transaction),
outbound workers with their own settings, and a pump that plays beat (the relay and the sweeper).

Meant for the long reliability runs too (1,000 sends with faults, workers killed mid-send): see
``outbound_workers`` (kill one with ``process.kill()``) and ``settled``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from messaging.channels import channel_add, meta_app_register
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
from messaging.outbound.dispatch.relay import outbox_relay
from messaging.outbound.dispatch.sweep import outbound_sweep
from messaging.providers.registry import content_normalise
from messaging.providers.sending import SendRequest
from tests.conftest import ROOT, WorkerProcess, worker_process
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
CONFIRMED_BY_META = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ})
SEND_URL = "/api/v1/messages/"


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
    simulator.channel_add(**simulator_channel_fields(provider_id, **simulator_fields))
    return channel


def simulator_channel_fields(provider_id: str, **overrides: Any) -> dict[str, Any]:
    """The simulator's twin of a gateway channel: unlimited, no window, no pair limit, no status webhooks."""
    return {
        "provider_id": provider_id,
        "access_token": SIM_TOKEN,
        "app_secret": APP_SECRET,
        "mps": 100_000,
        "pair_period_seconds": 0,
        "enforce_window": False,
        "status_delays_ms": None,
        **overrides,
    }


def channel_pair_limits_lift(simulator: SimulatorClient, provider_id: str) -> None:
    """Make the simulator's twin of ``provider_id`` unlimited again (its limiters start afresh)."""
    simulator.channel_add(**simulator_channel_fields(provider_id))


def text_content(body: str = "Hello from the dispatcher tests") -> dict[str, Any]:
    return {"v": 1, "platform": "whatsapp", "type": "text", "text": {"body": body, "preview_url": False}}


def queued_messages(
    channel: Channel, recipients: Sequence[str], *, content: dict[str, Any] | None = None
) -> list[Message]:
    """One queued message per recipient (a phone number; repeat one to send it several), with its outbox row,
    as the send API writes them: a text unless ``content`` (normalised) says otherwise. Nothing is published:
    the relay does that."""
    content = content or text_content()
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
                message_type=content["type"],
                status=MessageStatus.QUEUED,
                author_kind=AuthorKind.SYSTEM,
                received_at=now,
                provider_timestamp=now,
                content=content,
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
def outbound_workers(count: int, env: dict[str, str], *queues: str) -> Iterator[list[WorkerProcess]]:
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


# --- reliability runs: the send API, beat, faults and the simulator's ledger ---------------------------


def webhook_url(live_server: LiveServer, meta_app: MetaApp) -> str:
    """The gateway's webhook endpoint for the app, served by the test's live server (the simulator posts
    status webhooks there; an ingest worker applies them)."""
    return f"{live_server.url}/webhooks/meta/{meta_app.app_key}/"


def send_client(tenant: Tenant) -> APIClient:
    """An API client holding a key with the send and read scopes."""
    issued = api_key_issue(tenant=tenant, name="reliability", scopes=[ApiScope.MESSAGES_SEND, ApiScope.MESSAGES_READ])
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


TEMPLATE = {"name": "order_update", "language": "en_US", "components": [{"type": "body", "parameters": []}]}


def template_send(channel: Channel, to: str, **extra: Any) -> dict[str, Any]:
    """A WhatsApp template send (needs no open window) to a phone number, as a client posts it."""
    return {"channel": str(channel.pk), "to": to, "type": "template", "template": TEMPLATE, **extra}


def template_content(channel: Channel) -> dict[str, Any]:
    """The stored (normalised) content of ``template_send``, for ``queued_messages``."""
    request = SendRequest(channel_id=channel.pk, message_type="template", payload=TEMPLATE)
    return content_normalise(platform=channel.platform, request=request)


def api_send(client: APIClient, body: dict[str, Any]) -> uuid.UUID:
    """POST one send; it must be accepted (202). Returns the message id."""
    response = client.post(SEND_URL, body, format="json")
    assert response.status_code == 202, response.content
    return uuid.UUID(response.json()["id"])


def faults_set(simulator: SimulatorClient, provider_id: str, **plan: object) -> None:
    """Make the simulator fail sends of the channel as planned (rates, ``timeout_seconds``, ``seed``)."""
    response = simulator.request("POST", "/_sim/faults", {"provider_id": provider_id, **plan})
    assert response.status == 200, response.body


def faults_clear(simulator: SimulatorClient) -> None:
    assert simulator.request("DELETE", "/_sim/faults").status == 200


def faults_injected(simulator: SimulatorClient) -> int:
    """How many sends the simulator has failed on purpose so far (a held one counts as soon as it is held)."""
    return sum(simulator.sends()["faults"].values())


def outbound_beat_tasks() -> list[str]:
    """The outbound jobs beat publishes (the relay and the sweeper), by the names in the beat schedule."""
    schedule: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
    names = (str(entry["task"]) for entry in schedule.values())
    return sorted(name for name in names if name.startswith("maintenance.outbound"))


class BeatEquivalent:
    """Beat's outbound part in a thread: publishes the relay and sweeper tasks to the broker every ``interval``
    seconds (beat's own schedule, shortened), for a real worker on the ``maintenance`` queue to run."""

    def __init__(self, *, interval: float) -> None:
        self.interval = interval
        self.tasks = outbound_beat_tasks()
        self.published = 0
        self.stopped = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                for task in self.tasks:
                    current_app.send_task(task)
                    self.published += 1
                self.stopped.wait(self.interval)
        except BaseException as error:
            self.errors.append(error)


@contextmanager
def beat_equivalent(*, interval: float = 0.5) -> Iterator[BeatEquivalent]:
    beat = BeatEquivalent(interval=interval)
    assert beat.tasks, "no outbound job in the beat schedule"
    beat.thread.start()
    try:
        yield beat
    finally:
        beat.stopped.set()
        beat.thread.join(timeout=30)
    if beat.errors:
        raise beat.errors[0]


def statuses_by_id(ids: Iterable[uuid.UUID]) -> dict[str, str]:
    return {str(pk): status for pk, status in Message.objects.filter(pk__in=list(ids)).values_list("pk", "status")}


def all_in(ids: Sequence[uuid.UUID], wanted: frozenset[str]) -> bool:
    found = statuses_by_id(ids)
    return len(found) == len(ids) and all(status in wanted for status in found.values())


def ledger_problems(ids: Iterable[uuid.UUID], sends: dict[str, Any]) -> dict[str, Any]:
    """What the simulator's send ledger says went wrong for these messages: sent twice, never sent although
    we consider it delivered to Meta, sent although we consider it failed, or a send we know nothing of.
    Empty when every message reached Meta exactly as often as the gateway believes (once, or never)."""
    by_id: dict[str, int] = sends["by_id"]
    found = statuses_by_id(ids)
    problems: dict[str, Any] = {
        "duplicates": sends["duplicates"],
        "sent_twice": {pk: count for pk, count in by_id.items() if count != 1},
        "lost": sorted(pk for pk, status in found.items() if status in DELIVERED_TO_META and pk not in by_id),
        "failed_but_sent": sorted(pk for pk, status in found.items() if status == MessageStatus.FAILED and pk in by_id),
        "unknown_at_meta": sorted(set(by_id) - set(found)),
        "untagged": sends["untagged"],
    }
    return {name: value for name, value in problems.items() if value}


CLIENT_GONE = "ConnectionResetError: Connection lost"


@contextmanager
def simulator_process(*arguments: str) -> Iterator[str]:
    """The simulator as a subprocess on a free port with extra command-line ``arguments``; yields its URL.
    It must stop cleanly, with no traceback but aiohttp's for a client killed while sending its request."""
    command = [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", "0", "--log-level", "WARNING"]
    process = subprocess.Popen(
        [*command, *arguments], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    first_line = process.stdout.readline()
    try:
        assert first_line.startswith("simulator listening on "), first_line + process.stderr.read()
        yield first_line.split()[-1]
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
        stderr = process.stderr.read()
        assert stderr.count("Traceback") == stderr.count(CLIENT_GONE), stderr
