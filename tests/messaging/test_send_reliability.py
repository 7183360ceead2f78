"""Outbound reliability under faults, end to end: queued sends (some through the send API and published on
commit, the rest written the way the API writes them and published by the relay), real worker processes
(outbound; ingest and maintenance), real Redis and PostgreSQL, the real simulator posting signed status webhooks
to the gateway (the test's live server).

Beat is played by a thread that publishes beat's outbound jobs (the relay and the sweeper, by their names in the
beat schedule) every half second instead of every 2 and 10 seconds; a worker process that is never killed runs
them, with the ingest tasks that apply the status webhooks.

Loss and duplicates are counted by Meta's stand-in: the simulator records every accepted send by our message id
(``biz_opaque_callback_data``), so "sent twice" and "never sent" are facts at the receiving end, not the
gateway's opinion of itself.
"""

from __future__ import annotations

import logging
import random
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Max
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer
from rest_framework.test import APIClient

from accounts.models import Tenant
from messaging.models import (
    Channel,
    Contact,
    Conversation,
    Message,
    MessageStatus,
    MetaApp,
    OutboxEntry,
    SendAttempt,
    StatusEvent,
)
from messaging.outbound.dispatch.relay import outbox_relay
from tests.conftest import wait_for, worker_process
from tests.messaging.dispatch_support import (
    CONFIRMED_BY_META,
    DELIVERED_TO_META,
    SEND_URL,
    all_in,
    api_send,
    beat_equivalent,
    channel_pair,
    faults_clear,
    faults_injected,
    faults_set,
    ledger_problems,
    meta_app_for,
    phone_numbers,
    queued_messages,
    send_client,
    simulator_process,
    statuses_by_id,
    template_content,
    template_send,
    webhook_url,
    worker_env,
)
from tests.simulator.conftest import SimulatorClient

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE_NUMBER_ID = "106540352242931"
ENDED = CONFIRMED_BY_META | {MessageStatus.FAILED}
KILLS = 20
WAVE = 25  # messages queued per kill round: the batch in flight when the worker dies
HELD_SHARE = 0.3  # of the calls while a kill is being set up (seeded: at least one of a wave's calls is held)
KILL_MOMENTS = ("held_accepted", "held_not_arrived", "around_answer")
# Meta's "sent" comes 50 ms after the acceptance; "delivered" and "read" would come long after the test (they
# would only triple the webhook traffic: "sent" is what confirms a send).
STATUS_DELAYS_MS = [50, 3_600_000, 3_600_000]
# Well above the time a status webhook takes to be applied here (up to about 14 s measured on a busy 2-CPU
# machine), so a lost answer is confirmed, not resent; short enough that a call that never arrived is resent
# within the test.
SILENCE = "20"


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    """The simulator with status batching: when its webhook queue backs up (hundreds of statuses a second
    here), one POST carries up to 20 statuses, as Meta does."""
    with simulator_process("--status-batch", "20") as url:
        yield url


@pytest.fixture
def meta_app(tenant_a: Tenant) -> MetaApp:
    return meta_app_for(tenant_a)


@pytest.fixture
def client(tenant_a: Tenant) -> APIClient:
    return send_client(tenant_a)


def reliability_env(simulator_url: str, **overrides: str) -> dict[str, str]:
    """Short timeouts, lease and silence, so unknown outcomes resolve within the test; the same settings for
    every worker (the sweeper reads the silence and the retry budget too)."""
    return worker_env(
        simulator_url,
        GATEWAY_HTTP_CONNECT_TIMEOUT="1",
        GATEWAY_SEND_LEASE_SECONDS="5",
        **overrides,
    )


@contextmanager
def support_worker(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """The worker that is never killed: status webhooks (ingest) and beat's jobs (maintenance)."""
    with worker_process("ingest", "maintenance", env=env) as worker:
        yield worker


def open_threads(channel: Channel, numbers: list[str]) -> list[Contact]:
    """Contacts that wrote an hour ago as far as the gateway knows (so it lets a text through), whose window
    the simulator does not know of: Meta refuses the text with 131047."""
    contacts = []
    for number in numbers:
        contact = Contact.objects.create(tenant=channel.tenant, platform=channel.platform, external_id=number)
        Conversation.objects.create(
            tenant=channel.tenant,
            channel=channel,
            contact=contact,
            last_inbound_at=timezone.now() - timedelta(hours=1),
        )
        contacts.append(contact)
    return contacts


def exit_codes(*workers: subprocess.Popen[bytes]) -> list[int | None]:
    """None for a worker still running (a failure message should say whether one crashed)."""
    return [worker.poll() for worker in workers]


def text_send(channel: Channel, contact: Contact) -> dict[str, Any]:
    return {"channel": str(channel.pk), "contact_id": str(contact.pk), "type": "text", "text": {"body": "Hi"}}


def outcome_summary(ids: list[uuid.UUID], sends: dict[str, Any]) -> dict[str, Any]:
    """Counts for logs and failure messages, and the longest time from a message's last call to its ``sent``
    status being applied (how long an unknown outcome has to wait for its webhook here)."""
    attempts = Counter(SendAttempt.objects.filter(message_id__in=ids).values_list("outcome", flat=True))
    lags = (
        StatusEvent.objects.filter(message_id__in=ids, status=MessageStatus.SENT)
        .annotate(last_call=Max("message__attempts__started_at"))
        .values_list("recorded_at", "last_call")
    )
    return {
        "webhook_lag_max_s": max(((recorded - call).total_seconds() for recorded, call in lags if call), default=None),
        "statuses": dict(Counter(statuses_by_id(ids).values())),
        "attempts": dict(attempts),
        "outbox_rows": OutboxEntry.objects.filter(message_id__in=ids).count(),
        "faults": sends["faults"],
        "errors": sends["errors"],
    }


# --- 1,000 sends with faults ---------------------------------------------------------------------------


def test_a_thousand_sends_with_server_errors_and_timeouts_all_end_sent_or_failed_none_twice_none_lost(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp, client: APIClient, live_server: LiveServer
) -> None:
    """5% of the calls answer 500; 2% time out (half never reached Meta, half were accepted and the answer was
    lost). A lost answer is confirmed by Meta's status webhook carrying our id, not resent; a call that never
    arrived is resent once the silence has passed. 20 of the sends are texts Meta refuses (its window is closed
    while the gateway's is open): those fail at once with the code and the reason."""
    channel = channel_pair(
        simulator,
        meta_app,
        provider_id=PHONE_NUMBER_ID,
        send_rate=80,  # Meta's default: paces the status webhooks too, as in production
        webhook_url=webhook_url(live_server, meta_app),
        status_delays_ms=STATUS_DELAYS_MS,
        enforce_window=True,
    )
    refused = open_threads(channel, phone_numbers(20, start=90_000))
    faults_set(
        simulator,
        PHONE_NUMBER_ID,
        server_error_rate=0.05,
        timeout_rate=0.01,
        accepted_timeout_rate=0.01,
        timeout_seconds=None,  # held until the gateway gives up
        seed=20_261_128,
    )
    env = reliability_env(simulator_url, GATEWAY_SEND_TIMEOUT="1", GATEWAY_SEND_UNCONFIRMED_SILENCE=SILENCE)
    numbers = phone_numbers(980, start=50_000)

    with (
        support_worker(env) as support,
        worker_process("outbound", env=env) as first,
        worker_process("outbound", env=env) as second,
        beat_equivalent(),
    ):
        ids = [message.pk for message in queued_messages(channel, numbers[:900], content=template_content(channel))]
        ids += [api_send(client, template_send(channel, "+" + number)) for number in numbers[900:]]
        ids += [api_send(client, text_send(channel, contact)) for contact in refused]
        ended = wait_for(lambda: all_in(ids, ENDED), 240)
        assert ended, (outcome_summary(ids, simulator.sends()), exit_codes(first, second, support))

    sends = simulator.sends()
    summary = outcome_summary(ids, sends)
    logger.info("1,000 sends with faults: %s", summary)
    assert len(set(ids)) == 1000
    assert ledger_problems(ids, sends) == {}, summary
    assert set(sends["by_id"]) == {pk for pk, status in statuses_by_id(ids).items() if status != MessageStatus.FAILED}
    failed = list(Message.objects.filter(pk__in=ids, status=MessageStatus.FAILED))
    assert {message.contact_id for message in failed if message.failure_code == 131047} == {c.pk for c in refused}
    assert all(message.failure_code is not None and message.failure_title for message in failed), [
        (message.failure_code, message.failure_title) for message in failed
    ]
    assert not OutboxEntry.objects.filter(message_id__in=[message.pk for message in failed]).exists()
    # The faults really happened, each kind several times (the seed makes the counts repeatable per run order).
    assert {"server_error", "timeout", "accepted_timeout"} <= set(sends["faults"]), sends["faults"]
    assert min(sends["faults"].values()) >= 3, sends["faults"]


# --- kill -9 mid-send ----------------------------------------------------------------------------------


class KilledWorker:
    """The outbound worker that gets killed: one process at a time, restarted after every kill."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.context: Any = None
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        self.context = worker_process("outbound", env=self.env)
        self.process = self.context.__enter__()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no shutdown, no ack, no cleanup
        self.process.wait(timeout=30)
        self.context.__exit__(None, None, None)
        self.kills += 1

    def stop(self) -> None:
        if self.context is not None and self.process is not None and self.process.returncode is None:
            self.context.__exit__(None, None, None)


def accepted_total(simulator: SimulatorClient) -> int:
    return int(simulator.request("GET", "/_sim/sends?ids=false").body["accepted_total"])


def kill_in_call(simulator: SimulatorClient, worker: KilledWorker, moment: str, wave: Callable[[], None]) -> bool:
    """Queue a wave and publish it at once (the relay, without its grace), with the simulator set to hold some
    of the calls; kill the worker once one is held (it is inside the HTTP call; other calls of the batch may
    have been answered without their outcomes being recorded yet). Held calls were accepted by Meta, or never
    reached it, or were accepted and answered after 0.2 s (the kill comes at a random moment around that
    answer). False when no call was held within 30 s."""
    rng = random.Random(worker.kills)
    rate, hold = {
        "held_accepted": ("accepted_timeout_rate", None),
        "held_not_arrived": ("timeout_rate", None),
        "around_answer": ("accepted_timeout_rate", 0.2),
    }[moment]
    before = faults_injected(simulator)
    faults_set(simulator, PHONE_NUMBER_ID, **{rate: HELD_SHARE}, timeout_seconds=hold, seed=worker.kills)
    try:
        wave()
        held = wait_for(lambda: faults_injected(simulator) > before, 30)
        if held:
            if hold is not None:
                time.sleep(rng.uniform(0, 2 * hold))
            worker.kill()
    finally:
        faults_clear(simulator)
    return held


def test_killing_the_worker_mid_send_twenty_times_in_five_hundred_sends_loses_nothing_and_sends_nothing_twice(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp, live_server: LiveServer
) -> None:
    """kill -9 of the only outbound worker, 20 times, each followed by a restart. Each round queues 25 sends and
    the worker dies while their batch is in flight: inside calls Meta accepted (the answer never comes back:
    only the status webhook can tell), inside calls that never reached Meta (resent after the lease and the
    silence), or around answers. Every message must reach Meta exactly once and end confirmed by its status
    webhook."""
    channel = channel_pair(
        simulator,
        meta_app,
        provider_id=PHONE_NUMBER_ID,
        send_rate=1000,
        webhook_url=webhook_url(live_server, meta_app),
        status_delays_ms=STATUS_DELAYS_MS,
    )
    env = reliability_env(simulator_url, GATEWAY_SEND_TIMEOUT="3", GATEWAY_SEND_UNCONFIRMED_SILENCE="5")
    numbers = phone_numbers(500, start=60_000)
    content = template_content(channel)
    worker = KilledWorker(env)
    ids: list[uuid.UUID] = []

    def queue_and_publish(wave: list[str]) -> Callable[[], None]:
        def run() -> None:
            ids.extend(message.pk for message in queued_messages(channel, wave, content=content))
            outbox_relay(now=timezone.now(), grace=timedelta(0))

        return run

    with support_worker(env) as support, beat_equivalent():
        try:
            for round_number in range(KILLS):
                worker.start()
                wave = numbers[round_number * WAVE : (round_number + 1) * WAVE]
                moment = KILL_MOMENTS[round_number % len(KILL_MOMENTS)]
                killed = kill_in_call(simulator, worker, moment, queue_and_publish(wave))
                assert killed, (round_number, moment, outcome_summary(ids, simulator.sends()), exit_codes(support))
            worker.start()
            ended = wait_for(lambda: all_in(ids, CONFIRMED_BY_META), 180)
            assert ended, (outcome_summary(ids, simulator.sends()), exit_codes(support))
        finally:
            worker.stop()

    sends = simulator.sends()
    summary = outcome_summary(ids, sends)
    logger.info("500 sends, %s kills: %s", worker.kills, summary)
    assert (worker.kills, len(set(ids))) == (KILLS, 500)
    assert ledger_problems(ids, sends) == {}, summary
    assert sends["by_id"] == {str(pk): 1 for pk in ids}
    assert sends["faults"]["accepted_timeout"] >= KILLS // 3 and sends["faults"]["timeout"] >= KILLS // 3, summary


# --- scheduled sends and cancel, through beat ----------------------------------------------------------


def test_a_scheduled_send_goes_out_through_beat_at_its_time_and_a_cancelled_one_never_does(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp, client: APIClient
) -> None:
    """Scheduled rows are polled by beat (the relay publishes a row once it is due), never parked as Celery
    ETAs: no attempt starts before ``send_at``. A scheduled send cancelled meanwhile never reaches Meta."""
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    send_at = timezone.now() + timedelta(seconds=4)
    kept = api_send(client, template_send(channel, "+15550070001", send_at=send_at.isoformat()))
    cancelled = api_send(client, template_send(channel, "+15550070002", send_at=send_at.isoformat()))
    response = client.post(f"{SEND_URL}{cancelled}/cancel/")
    assert response.status_code == 200, response.content
    env = reliability_env(simulator_url)

    with support_worker(env) as support, worker_process("outbound", env=env) as worker, beat_equivalent():
        assert wait_for(lambda: all_in([kept], DELIVERED_TO_META), 60), exit_codes(support, worker)

    [attempt] = SendAttempt.objects.filter(message_id=kept)
    assert attempt.started_at >= send_at
    assert statuses_by_id([kept, cancelled]) == {
        str(kept): MessageStatus.ACCEPTED,
        str(cancelled): MessageStatus.CANCELLED,
    }
    assert not SendAttempt.objects.filter(message_id=cancelled).exists()
    assert not OutboxEntry.objects.filter(message_id__in=[kept, cancelled]).exists()
    assert simulator.sends()["by_id"] == {str(kept): 1}
