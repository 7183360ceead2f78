"""Scaled out: two web processes (gunicorn), a worker for each group of queues and one beat, against one
PostgreSQL database and one Redis, with inbound webhooks and outbound sends arriving together.

Nothing is lost, nothing happens twice, the channels' send limits hold across processes and each of beat's ticks
runs once: every distinct inbound message is stored once and its event delivered once, although some webhooks are
redelivered to both web processes; every accepted send reaches Meta (the simulator) exactly once, although some
requests are repeated on both web processes with the same Idempotency-Key; no wall-clock second at Meta sees more
sends of a channel than the channel's limit; and every tick beat published was taken and run by exactly one worker.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from core.redis import redis_configured
from events.endpoints import endpoint_create
from events.models import DeliveryStatus as EventDeliveryStatus
from events.models import Endpoint, Event, EventDelivery
from messaging.models import Channel, Direction, Message, MessageStatus, MetaApp, OutboxEntry
from tests.conftest import WorkerProcess, wait_for, worker_process
from tests.integration.scale_support import (
    TASK_FINISHED,
    TASK_RECEIVED,
    Inbound,
    SendAnswer,
    answers,
    api_send,
    beat_process,
    beat_published,
    inbound_webhook,
    task_runs,
    template_body,
    webhook_post,
)
from tests.live_gunicorn import LiveGunicorn, live_gunicorn
from tests.messaging.dispatch_support import (
    APP_SECRET,
    SETTLED,
    channel_pair,
    ledger_problems,
    meta_app_for,
    simulator_process,
    statuses_by_id,
    worker_env,
)
from tests.simulator.conftest import SimulatorClient
from webhooks.models import Delivery, DeliveryStatus

logger = logging.getLogger(__name__)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not redis_configured(),
        reason="the scale-out run is PostgreSQL and Redis shared by several processes (DATABASE_URL, REDIS_URL)",
    ),
]

PROVIDER_IDS = ("106540352242961", "106540352242962", "106540352242963")
CHANNEL_RATE = 2  # sends a second per channel: low enough to bind even on a busy 2-CPU machine
INBOUND = 150  # distinct customer messages
REDELIVERED_EVERY = 5  # every 5th webhook is redelivered to both web processes
SENDS = 120  # distinct sends, spread over the channels
# The first sends posted are scheduled an hour ahead, then brought forward to now once all are in, as if the hour
# had passed: beat's relay finds them due together, a backlog each channel drains at its limit.
SCHEDULED = 60
IDEMPOTENT_EVERY = 6  # every 6th send is posted to both web processes at once with the same Idempotency-Key
CLIENT_THREADS = 8
# The queues of each worker process; the one running beat's jobs logs every task it takes and finishes (by id).
WORKERS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("ingest", "media"), {}),
    (("outbound",), {}),
    (("events", "maintenance"), {"GATEWAY_TASK_LOG_LEVEL": "INFO"}),
)
SETTLE_SECONDS = 240  # a bound for a busy machine: here it takes 20 to 60 seconds


def event_endpoint(simulator: SimulatorClient, tenant: Tenant) -> Endpoint:
    """The tenant's endpoint for ``message.received`` at the simulator's receiver, which checks its signature."""
    created = endpoint_create(
        tenant=tenant,
        values={"url": f"{simulator.base_url}/_sim/events", "event_types": ["message.received"]},
        actor=CLI_ACTOR,
    )
    answer = simulator.request("POST", "/_sim/event-receiver", {"secrets": [created.secret], "recent_kept": 10_000})
    assert answer.status == 200, answer.body
    return created.endpoint


def inbound_load() -> list[Inbound]:
    return [
        inbound_webhook(
            app_secret=APP_SECRET,
            provider_id=PROVIDER_IDS[index % len(PROVIDER_IDS)],
            message_id=f"wamid.scale-out-{index:05d}",
            sender=f"1650555{index % 40:04d}",
        )
        for index in range(INBOUND)
    ]


class Load:
    """Webhooks and sends, interleaved, posted from a pool of threads alternately to the two web processes."""

    def __init__(self, web: list[LiveGunicorn], meta_app: MetaApp, channels: list[Channel], api_key: str) -> None:
        self.web = web
        self.meta_app = meta_app
        self.channels = channels
        self.api_key = api_key
        self.send_at = (timezone.now() + timedelta(hours=1)).isoformat()
        self.webhook_statuses: list[int] = []
        self.answers: list[tuple[int, SendAnswer]] = []  # (send number, answer)

    def jobs(self, inbound: list[Inbound]) -> list[Callable[[], None]]:
        webhook_jobs = [self.webhook_job(index, item) for index, item in enumerate(inbound)]
        send_jobs = [job for number in range(SENDS) for job in self.send_jobs(number)]
        mixed: list[Callable[[], None]] = []
        for index in range(max(len(webhook_jobs), len(send_jobs))):
            mixed.extend(webhook_jobs[index : index + 1] + send_jobs[index : index + 1])
        return mixed

    def webhook_job(self, index: int, inbound: Inbound) -> Callable[[], None]:
        def run() -> None:
            targets = [self.web[index % 2]]
            if index % REDELIVERED_EVERY == 0:
                targets += self.web  # Meta redelivers: once more to each web process
            for web in targets:
                self.webhook_statuses.append(webhook_post(web, self.meta_app.app_key, inbound))

        return run

    def send_jobs(self, number: int) -> list[Callable[[], None]]:
        channel = self.channels[number % len(self.channels)]
        body = template_body(str(channel.pk), f"+1555{70_000 + number:07d}")
        if number < SCHEDULED:
            body["send_at"] = self.send_at
        if number % IDEMPOTENT_EVERY:
            return [self.send_job(number, self.web[number % 2], body, None)]
        key = f"scale-out-{number}"
        return [self.send_job(number, web, body, key) for web in self.web]  # the same request on both, at once

    def send_job(self, number: int, web: LiveGunicorn, body: dict[str, Any], key: str | None) -> Callable[[], None]:
        def run() -> None:
            self.answers.append((number, api_send(web, self.api_key, body, key)))

        return run

    def run(self, inbound: list[Inbound]) -> None:
        with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
            for future in [pool.submit(job) for job in self.jobs(inbound)]:
                future.result()

    def message_ids(self) -> dict[int, set[str]]:
        """The message ids the API answered, by send number (one each, however often a send was posted)."""
        by_number: dict[int, set[str]] = {}
        for number, answer in self.answers:
            assert answer.status == 202 and answer.message_id, (number, answer)
            by_number.setdefault(number, set()).add(answer.message_id)
        return by_number


def scheduled_make_due(ids: list[uuid.UUID]) -> None:
    """The scheduled sends' time has come (their hour passed at once)."""
    now = timezone.now()
    with transaction.atomic():
        assert Message.objects.filter(pk__in=ids, send_at__isnull=False).update(send_at=now, next_attempt_at=now)
        OutboxEntry.objects.filter(message_id__in=ids).update(available_at=now)


def inbound_stored(tenant: Tenant) -> Counter[str]:
    """Each stored inbound message's provider id, with how many rows carry it."""
    messages = Message.objects.filter(tenant=tenant, direction=Direction.INBOUND)
    return Counter(str(message.provider_message_id) for message in messages)


def events_delivered(endpoint: Endpoint) -> bool:
    deliveries = EventDelivery.objects.filter(endpoint=endpoint)
    return deliveries.count() == INBOUND and not deliveries.exclude(status=EventDeliveryStatus.DELIVERED).exists()


def all_settled(ids: list[uuid.UUID]) -> bool:
    found = statuses_by_id(ids)
    return len(found) == len(ids) and all(status in SETTLED for status in found.values())


def logs_of(workers: list[WorkerProcess]) -> list[str]:
    return [worker.log() for worker in workers]


@dataclass
class Outcome:
    """What the run left, read before the processes stopped where it lives in them."""

    load: Load
    sends: dict[int, set[str]]  # the message ids the API answered, by send number
    ticks: dict[str, str]  # the ticks beat published: task id -> task name
    worker_logs: list[str]
    ledger: dict[str, Any]  # the simulator's record of the sends it accepted
    received: Counter[str]  # the event ids the receiver verified, with how often each came

    @property
    def ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(min(found)) for found in self.sends.values()]


def scaled_out_run(tenant: Tenant, tmp_path: Path) -> Outcome:
    """The simulator, two web processes, three workers and beat; the load; everything settled; beat stopped and
    its last ticks run; then every process stopped."""
    with ExitStack() as stack:
        simulator = SimulatorClient(stack.enter_context(simulator_process()))
        meta_app = meta_app_for(tenant)
        channels = [channel_pair(simulator, meta_app, provider_id=pid, send_rate=CHANNEL_RATE) for pid in PROVIDER_IDS]
        endpoint = event_endpoint(simulator, tenant)
        api_key = api_key_issue(tenant=tenant, name="scale-out", scopes=[ApiScope.MESSAGES_SEND]).plaintext
        quiet = {"GATEWAY_LOG_LEVEL": "WARNING"}
        web = [stack.enter_context(live_gunicorn(tmp_path / f"web-{name}.log", quiet)) for name in "ab"]
        env = worker_env(simulator.base_url)
        workers = [
            stack.enter_context(worker_process(*queues, env={**env, **task_log}, pool="prefork", concurrency=2))
            for queues, task_log in WORKERS
        ]
        assert all(answers(server) for server in web), [server.log()[-2000:] for server in web]
        with beat_process(env) as beat:
            load = Load(web, meta_app, channels, api_key)
            load.run(inbound_load())
            sends = load.message_ids()
            scheduled_make_due([uuid.UUID(min(sends[number])) for number in range(SCHEDULED)])
            ids = [uuid.UUID(min(found)) for found in sends.values()]
            settled = wait_for(lambda: everything_settled(tenant, ids, endpoint), SETTLE_SECONDS)
            assert settled, (
                len(inbound_stored(tenant)),
                Counter(statuses_by_id(ids).values()),
                Counter(EventDelivery.objects.filter(endpoint=endpoint).values_list("status", flat=True)),
                [process.poll() for process in [*workers, beat]],
                [server.log()[-2000:] for server in web],
            )
        ticks = beat_published(beat.log())
        # Beat has stopped: every tick it published is run now, if it was not yet.
        assert wait_for(lambda: set(ticks) <= set(task_runs(logs_of(workers), TASK_FINISHED)), 60), ticks
        return Outcome(load, sends, ticks, logs_of(workers), simulator.sends(), simulator_events(simulator))


def everything_settled(tenant: Tenant, ids: list[uuid.UUID], endpoint: Endpoint) -> bool:
    return len(inbound_stored(tenant)) == INBOUND and all_settled(ids) and events_delivered(endpoint)


def test_two_web_processes_three_workers_and_beat_under_load_lose_nothing_double_nothing_hold_the_limits(
    tenant_a: Tenant, tmp_path: Path
) -> None:
    outcome = scaled_out_run(tenant_a, tmp_path)
    inbound_checks(outcome, tenant_a)
    send_checks(outcome)
    tick_checks(outcome)


def inbound_checks(outcome: Outcome, tenant_a: Tenant) -> None:
    """Every webhook acknowledged; each distinct message stored once though some came three times (to both web
    processes); its message.received event delivered once to the endpoint, which verified its signature."""
    redelivered = len(range(0, INBOUND, REDELIVERED_EVERY))
    assert outcome.load.webhook_statuses == [200] * (INBOUND + 2 * redelivered)
    assert inbound_stored(tenant_a) == Counter({f"wamid.scale-out-{index:05d}": 1 for index in range(INBOUND)})
    assert Delivery.objects.count() == len(outcome.load.webhook_statuses)
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PROCESSED}
    events = Event.objects.filter(tenant=tenant_a, type="message.received")
    assert outcome.received == Counter({event.public_id: 1 for event in events}), outcome.received
    assert len(outcome.received) == INBOUND


def send_checks(outcome: Outcome) -> None:
    """One message per send whichever web process answered (the repeated Idempotency-Key replayed), each
    accepted by Meta exactly once; no wall-clock second at Meta saw more of a channel's sends than its limit, and
    the limit bound (a backlog filled some second to it)."""
    assert all(len(found) == 1 for found in outcome.sends.values()), outcome.sends
    assert len(outcome.sends) == SENDS and len(set(outcome.ids)) == SENDS
    replayed = sum(answer.is_replayed for _, answer in outcome.load.answers)
    assert replayed == len(range(0, SENDS, IDEMPOTENT_EVERY))
    assert ledger_problems(outcome.ids, outcome.ledger) == {}
    assert outcome.ledger["by_id"] == {str(pk): 1 for pk in outcome.ids}
    assert set(statuses_by_id(outcome.ids).values()) == {MessageStatus.ACCEPTED}
    per_second = {pid: outcome.ledger["per_second"][pid] for pid in PROVIDER_IDS}
    logger.info("sends per wall-clock second at Meta: %s", per_second)
    busiest = {pid: max(seconds.values()) for pid, seconds in per_second.items()}
    assert all(count <= CHANNEL_RATE for count in busiest.values()), per_second
    assert CHANNEL_RATE in busiest.values(), per_second


def tick_checks(outcome: Outcome) -> None:
    """Beat's log names each tick it published by its task id; across the workers, each was taken from the broker
    once and run once (a tick run twice would relay or sweep twice)."""
    assert {"maintenance.outbound_relay", "maintenance.outbound_sweep", "maintenance.events_relay"} <= set(
        outcome.ticks.values()
    ), outcome.ticks
    received = task_runs(outcome.worker_logs, TASK_RECEIVED)
    finished = task_runs(outcome.worker_logs, TASK_FINISHED)
    assert {tick: received[tick] for tick in outcome.ticks} == dict.fromkeys(outcome.ticks, 1)
    assert {tick: finished[tick] for tick in outcome.ticks} == dict.fromkeys(outcome.ticks, 1)


def simulator_events(simulator: SimulatorClient) -> Counter[str]:
    """The ids of the events the receiver verified, with how often each came."""
    answer = simulator.request("GET", "/_sim/events")
    assert answer.status == 200 and answer.body["rejected"] == 0, answer.body
    return Counter(event["id"] for event in answer.body["recent"])
