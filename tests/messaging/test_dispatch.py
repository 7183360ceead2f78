"""The dispatcher end to end: real outbound worker processes, real Redis and PostgreSQL, the real simulator.

Each test configures the simulator (Meta's stand-in) to answer the way the case needs, queues messages the
way the send API does, and lets the relay publish them (the pump plays beat)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from audit.models import AuditAction, AuditEvent
from core.http import HttpResponse
from events.models import Event
from messaging.channels import channel_add, channel_set_access_token
from messaging.models import (
    AttemptOutcome,
    Channel,
    ChannelAlert,
    ChannelStatus,
    Message,
    MessageStatus,
    MetaApp,
    OutboxEntry,
    SendAttempt,
)
from messaging.outbound.dispatch.calls import CallResult, call_result
from messaging.outbound.dispatch.relay import outbox_relay
from messaging.outbound.dispatch.sweep import outbound_sweep
from messaging.providers.errors import (
    ERROR_POLICIES,
    SERVER_ERROR,
    OutcomeKind,
    Scope,
    error_policy,
    transport_error_policy,
)
from tests.conftest import wait_for
from tests.messaging.dispatch_support import (
    SIM_TOKEN,
    channel_pair,
    channel_pair_limits_lift,
    dispatch_pump,
    meta_app_for,
    outbound_workers,
    phone_numbers,
    queued_messages,
    settled,
    statuses,
    worker_env,
)
from tests.simulator.conftest import SimulatorClient

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE_NUMBER_ID = "106540352242922"
OTHER_PHONE_NUMBER_ID = "106540352242923"
FAR_FUTURE = timedelta(days=1)


@pytest.fixture
def meta_app(tenant_a: Tenant) -> MetaApp:
    return meta_app_for(tenant_a)


def faults(simulator: SimulatorClient, **plan: object) -> None:
    response = simulator.request("POST", "/_sim/faults", {"provider_id": PHONE_NUMBER_ID, **plan})
    assert response.status == 200, response.body


def faults_clear(simulator: SimulatorClient) -> None:
    assert simulator.request("DELETE", "/_sim/faults").status == 200


def attempt_outcomes(message: Message) -> list[str]:
    return list(SendAttempt.objects.filter(message=message).order_by("number").values_list("outcome", flat=True))


def status_of(message: Message) -> Callable[[], str]:
    return lambda: Message.objects.values_list("status", flat=True).get(pk=message.pk)


def test_an_accepted_send_stores_the_wamid_and_deletes_the_outbox_row(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp
) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    [message] = queued_messages(channel, ["15550001111"])

    with outbound_workers(1, worker_env(simulator_url)) as [worker], dispatch_pump():
        assert wait_for(lambda: settled([message]), 60), worker.log()

    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED
    assert message.provider_message_id is not None and message.provider_message_id.startswith("wamid.")
    assert message.provider_message_index is not None
    assert not OutboxEntry.objects.filter(message=message).exists()
    [attempt] = SendAttempt.objects.filter(message=message)
    assert (attempt.outcome, attempt.http_status, attempt.error_code) == (AttemptOutcome.ACCEPTED, 200, None)
    assert simulator.sends()["by_id"] == {str(message.pk): 1}


def test_throughput_and_pair_refusals_requeue_without_using_the_retry_budget(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp
) -> None:
    """Meta (the simulator) is stricter than the gateway here: one send a second on the number, one an hour
    to a recipient. With a retry budget of one, a throttle that counted would fail the message. Once both
    refusals were seen, the simulator lifts its limits and every message must still go through: the test
    waits on the refusals themselves, never on how fast this machine sends."""
    channel = channel_pair(
        simulator, meta_app, provider_id=PHONE_NUMBER_ID, send_rate=80, mps=1, pair_period_seconds=3600, pair_burst=1
    )
    messages = queued_messages(channel, ["15550002001", "15550002001", *phone_numbers(5, start=2100)])
    env = worker_env(
        simulator_url,
        GATEWAY_SEND_MAX_TRANSIENT_ATTEMPTS="1",
        GATEWAY_SEND_PAIR_PERIOD_SECONDS="1",
        GATEWAY_SEND_PAIR_BURST="3",
    )

    def refused(code: str) -> bool:
        return int(simulator.sends()["errors"].get(code, 0)) >= 1

    with outbound_workers(1, env) as [worker], dispatch_pump():
        assert wait_for(lambda: refused("131056") and refused("130429"), 120), worker.log()
        channel_pair_limits_lift(simulator, PHONE_NUMBER_ID)
        assert wait_for(lambda: settled(messages), 120), worker.log()

    assert set(statuses(messages).values()) == {MessageStatus.ACCEPTED}
    sends = simulator.sends()
    assert sends["errors"]["131056"] >= 1
    assert sends["errors"]["130429"] >= 1
    assert sends["duplicates"] == {}
    assert set(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("attempt_count", flat=True)) == {0}
    assert SendAttempt.objects.filter(message__in=messages, outcome=AttemptOutcome.THROTTLED).count() == sum(
        sends["errors"].values()
    )


def test_outside_the_window_a_message_fails_at_once_with_the_window_reason(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp
) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID, enforce_window=True)
    [message] = queued_messages(channel, ["15550003001"])

    with outbound_workers(1, worker_env(simulator_url)) as [worker], dispatch_pump():
        assert wait_for(lambda: settled([message]), 60), worker.log()

    message.refresh_from_db()
    assert (message.status, message.failure_code) == (MessageStatus.FAILED, 131047)
    assert "24 hours" in message.failure_title
    assert attempt_outcomes(message) == [AttemptOutcome.PERMANENT]
    assert not OutboxEntry.objects.filter(message=message).exists()
    assert simulator.sends()["accepted_total"] == 0


def test_an_expired_token_pauses_the_channel_holds_its_sends_and_resume_publishes_them(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp
) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID, token="an-expired-token-0001")
    messages = queued_messages(channel, phone_numbers(2, start=4000))

    with outbound_workers(1, worker_env(simulator_url)) as [worker], dispatch_pump():
        assert wait_for(
            lambda: (
                Channel.objects.get(pk=channel.pk).status == ChannelStatus.PAUSED
                and OutboxEntry.objects.filter(channel=channel, published_at__isnull=True).count() == 2
            ),
            60,
        ), worker.log()

        assert set(statuses(messages).values()) == {MessageStatus.QUEUED}  # held, not failed
        assert SendAttempt.objects.filter(message__in=messages).count() == 1  # the second was never tried
        assert set(Message.objects.filter(channel=channel).values_list("attempt_count", flat=True)) == {0}
        alert = ChannelAlert.objects.get(channel=channel)
        assert (alert.error_code, alert.resolved_at) == (190, None)
        assert AuditEvent.objects.filter(action=AuditAction.CHANNEL_PAUSED, target_id=str(channel.pk)).exists()
        assert "token" in Channel.objects.get(pk=channel.pk).paused_reason

        channel_set_access_token(channel=Channel.objects.get(pk=channel.pk), access_token=SIM_TOKEN, actor=CLI_ACTOR)
        call_command("channel_resume", "--platform", "whatsapp", "--provider-id", PHONE_NUMBER_ID)

        assert wait_for(lambda: settled(messages), 60), worker.log()

    assert set(statuses(messages).values()) == {MessageStatus.ACCEPTED}
    assert ChannelAlert.objects.get(channel=channel).resolved_at is not None
    assert AuditEvent.objects.filter(action=AuditAction.CHANNEL_RESUMED).exists()
    business_events = list(Event.objects.filter(channel_id=channel.pk).order_by("created_at"))
    assert [(event.type, event.facts.get("error_code")) for event in business_events] == [
        ("channel.paused", 190),
        ("channel.resumed", None),
        ("message.status", None),
        ("message.status", None),
    ]
    assert simulator.sends()["by_id"] == {str(message.pk): 1 for message in messages}


def test_server_errors_are_retried_with_backoff_until_the_send_is_accepted(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp
) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    faults(simulator, server_error_rate=1.0, server_error_status=503)
    [message] = queued_messages(channel, ["15550005001"])

    with outbound_workers(1, worker_env(simulator_url)) as [worker], dispatch_pump():
        # Two attempts answered (not just started: one still in flight would be accepted once the faults clear).
        transient = SendAttempt.objects.filter(message=message, outcome=AttemptOutcome.TRANSIENT)
        assert wait_for(lambda: transient.count() >= 2, 60), worker.log()
        faults_clear(simulator)
        assert wait_for(lambda: settled([message]), 60), worker.log()

    message.refresh_from_db()
    outcomes = attempt_outcomes(message)
    assert message.status == MessageStatus.ACCEPTED
    assert outcomes[-1] == AttemptOutcome.ACCEPTED
    assert set(outcomes[:-1]) == {AttemptOutcome.TRANSIENT} and len(outcomes) >= 3
    assert message.attempt_count == len(outcomes) - 1
    assert set(SendAttempt.objects.filter(outcome=AttemptOutcome.TRANSIENT).values_list("http_status", flat=True)) == {
        503
    }
    assert simulator.sends()["by_id"] == {str(message.pk): 1}


def test_server_errors_fail_the_message_once_the_retry_budget_is_spent(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp
) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    faults(simulator, server_error_rate=1.0)
    [message] = queued_messages(channel, ["15550005501"])

    with outbound_workers(1, worker_env(simulator_url, GATEWAY_SEND_MAX_TRANSIENT_ATTEMPTS="3")), dispatch_pump():
        assert wait_for(lambda: settled([message]), 60)

    message.refresh_from_db()
    assert (message.status, message.failure_code) == (MessageStatus.FAILED, 2)
    assert message.failure_title.endswith("(3 attempts)")
    assert attempt_outcomes(message) == [AttemptOutcome.TRANSIENT] * 3
    assert not OutboxEntry.objects.filter(message=message).exists()


def test_an_unknown_outcome_waits_and_a_status_webhook_settles_it_without_a_resend(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp, live_server: LiveServer
) -> None:
    """Meta accepts, the answer is lost (the simulator holds it past the gateway's timeout): the message is
    unconfirmed. Meta's status webhook, carrying our id, reaches the gateway and moves it forward; the
    sweeper never resends it."""
    channel = channel_pair(
        simulator,
        meta_app,
        provider_id=PHONE_NUMBER_ID,
        webhook_url=f"{live_server.url}/webhooks/meta/{meta_app.app_key}/",
        status_delays_ms=[2500, 2600, 2700],
    )
    faults(simulator, accepted_timeout_rate=1.0, timeout_seconds=None)
    [message] = queued_messages(channel, ["15550006001"])

    with (
        outbound_workers(1, worker_env(simulator_url, GATEWAY_SEND_TIMEOUT="1"), "ingest") as [worker],
        dispatch_pump(sweeps=False),
    ):
        assert wait_for(lambda: status_of(message)() == MessageStatus.UNCONFIRMED, 60), worker.log()
        faults_clear(simulator)
        assert wait_for(lambda: status_of(message)() == MessageStatus.READ, 60), worker.log()

        assert outbound_sweep(now=timezone.now() + FAR_FUTURE)["requeued"] == 0
        assert outbox_relay(now=timezone.now() + FAR_FUTURE, grace=timedelta(0)) == 0

    assert status_of(message)() == MessageStatus.READ
    assert attempt_outcomes(message) == [AttemptOutcome.UNKNOWN]
    assert simulator.sends()["by_id"] == {str(message.pk): 1}


def test_an_unknown_outcome_without_any_webhook_is_resent_only_after_the_silence(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp
) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    faults(simulator, accepted_timeout_rate=1.0, timeout_seconds=None)
    [message] = queued_messages(channel, ["15550007001"])
    env = worker_env(simulator_url, GATEWAY_SEND_TIMEOUT="1", GATEWAY_SEND_UNCONFIRMED_SILENCE="600")

    with outbound_workers(1, env) as [worker], dispatch_pump(sweeps=False):
        assert wait_for(lambda: status_of(message)() == MessageStatus.UNCONFIRMED, 60), worker.log()
        faults_clear(simulator)

        assert outbound_sweep(now=timezone.now() + timedelta(seconds=590))["requeued"] == 0  # still silent
        assert status_of(message)() == MessageStatus.UNCONFIRMED
        later = timezone.now() + timedelta(seconds=610)
        assert outbound_sweep(now=later)["requeued"] == 1
        assert outbox_relay(now=later, grace=timedelta(0)) == 1
        assert wait_for(lambda: settled([message]), 60), worker.log()

    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED
    assert attempt_outcomes(message) == [AttemptOutcome.UNKNOWN, AttemptOutcome.ACCEPTED]
    assert simulator.sends()["by_id"] == {str(message.pk): 2}  # no webhook ever came: resent once, by design


def per_second(sends: dict[str, Any], provider_id: str) -> dict[int, int]:
    return {int(second): count for second, count in sends["per_second"].get(provider_id, {}).items()}


def test_four_workers_never_send_more_than_the_channel_rate_in_any_second(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp
) -> None:
    """300 messages on a channel limited to 50 a second, four workers. The simulator accepts anything: its
    per-second histogram (wall-clock seconds, as Meta counts) is the gateway's own pacing."""
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID, send_rate=50)
    messages = queued_messages(channel, phone_numbers(300, start=10_000))

    with outbound_workers(4, worker_env(simulator_url)) as workers, dispatch_pump():
        assert wait_for(lambda: settled(messages), 180), [w.log() for w in workers]

    assert set(statuses(messages).values()) == {MessageStatus.ACCEPTED}
    sends = simulator.sends()
    seconds = per_second(sends, PHONE_NUMBER_ID)
    logger.info("per second at 50 mps: %s", sorted(seconds.items()))
    assert sum(seconds.values()) == 300
    assert max(seconds.values()) <= 50
    assert (sends["duplicates"], sends["errors"]) == ({}, {})


def test_a_channel_at_its_limit_does_not_slow_another_channel(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp
) -> None:
    """100 messages on a channel limited to 5 a second (twenty seconds at least), then 150 on an unlimited one
    queued behind them, four workers. Workers do not wait for the limited channel's budget: they put its
    messages back (spread over the seconds its backlog needs) and move on, so the other channel is done while
    the limited one is still pacing."""
    limited = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID, send_rate=5)
    other = channel_pair(simulator, meta_app, provider_id=OTHER_PHONE_NUMBER_ID, send_rate=1000)
    limited_messages = queued_messages(limited, phone_numbers(100, start=30_000))
    other_messages = queued_messages(other, phone_numbers(150, start=40_000))

    with outbound_workers(4, worker_env(simulator_url)) as workers, dispatch_pump():
        assert wait_for(lambda: settled(limited_messages + other_messages), 180), [w.log() for w in workers]

    assert set(statuses(limited_messages + other_messages).values()) == {MessageStatus.ACCEPTED}
    sends = simulator.sends()
    limited_seconds = per_second(sends, PHONE_NUMBER_ID)
    other_seconds = per_second(sends, OTHER_PHONE_NUMBER_ID)
    logger.info("per second: limited %s, other %s", sorted(limited_seconds.items()), sorted(other_seconds.items()))
    assert max(limited_seconds.values()) <= 5
    assert max(other_seconds) < max(limited_seconds)
    assert (sends["duplicates"], sends["errors"]) == ({}, {})


def test_a_worker_killed_mid_send_leaves_the_message_to_the_sweeper_which_resends_after_the_silence(
    simulator: SimulatorClient, simulator_url: str, meta_app: MetaApp
) -> None:
    """kill -9 while the Graph call is in flight (Meta accepted, the answer never came back). The message
    stays ``sending`` until its lease runs out, is then unconfirmed, and is resent only after the silence."""
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    faults(simulator, accepted_timeout_rate=1.0, timeout_seconds=None)
    [message] = queued_messages(channel, ["15550008001"])
    env = worker_env(simulator_url, GATEWAY_SEND_TIMEOUT="60")

    with outbound_workers(1, env) as [worker], dispatch_pump(sweeps=False):
        assert wait_for(lambda: SendAttempt.objects.filter(message=message).exists(), 60), worker.log()
        assert wait_for(lambda: simulator.sends()["accepted_total"] == 1, 60)
        worker.kill()
        worker.wait(timeout=30)
    faults_clear(simulator)

    assert status_of(message)() == MessageStatus.SENDING
    assert outbound_sweep(now=timezone.now())["unconfirmed"] == 0  # the lease still runs
    after_lease = timezone.now() + timedelta(minutes=5)
    swept = outbound_sweep(now=after_lease)
    assert (swept["unconfirmed"], swept["requeued"], swept["failed"]) == (1, 0, 0)
    assert attempt_outcomes(message) == [AttemptOutcome.UNKNOWN]
    after_silence = after_lease + timedelta(seconds=121)
    assert outbound_sweep(now=after_silence)["requeued"] == 1

    with outbound_workers(1, worker_env(simulator_url)) as [worker]:
        assert outbox_relay(now=after_silence, grace=timedelta(0)) == 1
        assert wait_for(lambda: settled([message]), 60), worker.log()

    assert status_of(message)() == MessageStatus.ACCEPTED
    assert attempt_outcomes(message) == [AttemptOutcome.UNKNOWN, AttemptOutcome.ACCEPTED]
    assert simulator.sends()["by_id"] == {str(message.pk): 2}  # the lost answer: one resend, by design


@pytest.mark.parametrize(
    ("code", "subcode", "http_status", "kind", "scope"),
    [
        (130429, None, 400, OutcomeKind.THROTTLED, Scope.CHANNEL),
        (131056, None, 400, OutcomeKind.THROTTLED, Scope.RECIPIENT),
        (131047, None, 400, OutcomeKind.PERMANENT, Scope.MESSAGE),
        (190, None, 401, OutcomeKind.CHANNEL, Scope.MESSAGE),
        (368, None, 400, OutcomeKind.CHANNEL, Scope.MESSAGE),
        (131031, None, 400, OutcomeKind.CHANNEL, Scope.MESSAGE),
        (250, None, 403, OutcomeKind.CHANNEL, Scope.MESSAGE),
        (10, 2018278, 400, OutcomeKind.PERMANENT, Scope.MESSAGE),
        (10, None, 400, OutcomeKind.CHANNEL, Scope.MESSAGE),
        (613, None, 400, OutcomeKind.THROTTLED, Scope.CHANNEL),
        (1200, None, 500, OutcomeKind.TRANSIENT, Scope.MESSAGE),
        (2, None, 503, OutcomeKind.TRANSIENT, Scope.MESSAGE),
        (None, None, 502, OutcomeKind.TRANSIENT, Scope.MESSAGE),
        (None, None, 429, OutcomeKind.TRANSIENT, Scope.MESSAGE),
        (None, None, 404, OutcomeKind.PERMANENT, Scope.MESSAGE),
        (999_999, None, 400, OutcomeKind.PERMANENT, Scope.MESSAGE),
    ],
)
def test_the_error_policy_is_keyed_by_code(
    code: int | None, subcode: int | None, http_status: int, kind: OutcomeKind, scope: Scope
) -> None:
    policy = error_policy(code=code, subcode=subcode, http_status=http_status)

    assert (policy.kind, policy.scope) == (kind, scope)


def test_every_code_of_the_spec_has_a_policy() -> None:
    spec_codes = {0, 1, 2, 3, 4, 10, 17, 32, 33, 100, 190, 368, 551, 613, 1200, 80007, 130403, 130429, 130472}
    spec_codes |= {130497, 131000, 131005, 131008, 131009, 131016, 131021, 131026, 131031, 131037, 131042, 131044}
    spec_codes |= {131045, 131047, 131048, 131049, 131050, 131051, 131052, 131053, 131056, 131057, 131063, 131064}
    spec_codes |= {132000, 132001, 132005, 132007, 132012, 132015, 132016, 132068, 132069, 133016, 137000}

    assert spec_codes <= set(ERROR_POLICIES)
    assert transport_error_policy(was_sent=False).kind == OutcomeKind.TRANSIENT
    assert transport_error_policy(was_sent=True).kind == OutcomeKind.UNKNOWN


def test_a_graph_answer_is_read_for_codes_and_ids_only() -> None:
    refused = HttpResponse(
        status=400,
        headers={"retry-after": "7"},
        body=b'{"error":{"message":"(#131056) pair rate limit hit","code":131056,"fbtrace_id":"Az8or2"}}',
    )
    accepted = HttpResponse(status=200, headers={}, body=b'{"messages":[{"id":"wamid.ABC"}]}')
    garbled = HttpResponse(status=502, headers={}, body=b"<html>Bad gateway</html>")

    assert call_result(refused) == CallResult(
        ERROR_POLICIES[131056], http_status=400, error_code=131056, fbtrace_id="Az8or2", retry_after_seconds=7.0
    )
    assert call_result(accepted).provider_message_id == "wamid.ABC"
    assert call_result(garbled).policy == SERVER_ERROR


def test_the_admin_shows_a_messages_attempts_and_the_channel_alerts(
    operator_client: Client, meta_app: MetaApp, simulator: SimulatorClient
) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    [message] = queued_messages(channel, ["15550009001"])
    SendAttempt.objects.create(
        message=message,
        tenant=message.tenant,
        number=1,
        started_at=timezone.now(),
        outcome=AttemptOutcome.CHANNEL,
        http_status=401,
        error_code=190,
        error_title="The access token has expired or is invalid",
    )
    ChannelAlert.objects.create(tenant=channel.tenant, channel=channel, error_code=190, error_title="Token expired")

    attempts_page = operator_client.get(reverse("admin:messaging_message_change", args=[message.pk]))
    alerts_page = operator_client.get(reverse("admin:messaging_channelalert_changelist"))

    assert attempts_page.status_code == alerts_page.status_code == 200
    assert "The access token has expired or is invalid" in attempts_page.content.decode()
    assert "Token expired" in alerts_page.content.decode()
    assert "Hello from the dispatcher tests" not in attempts_page.content.decode()  # content stays masked


def test_the_sweeper_clears_what_a_dead_worker_left_of_a_message_a_webhook_settled(meta_app: MetaApp) -> None:
    """The worker died before recording Meta's answer; the status webhook moved the message on anyway."""
    assert meta_app.tenant is not None
    channel = channel_add(
        tenant=meta_app.tenant,
        meta_app=meta_app,
        platform="whatsapp",
        provider_id=PHONE_NUMBER_ID,
        access_token="sweeper-test-token-0123",
        actor=CLI_ACTOR,
    )
    settled_message, in_flight, leased = queued_messages(channel, ["15550009001", "15550009002", "15550009003"])
    long_ago = timezone.now() - timedelta(seconds=settings.GATEWAY_SEND_LEASE_SECONDS + 5)
    for number, message in enumerate((settled_message, in_flight, leased), start=1):
        SendAttempt.objects.create(message=message, tenant=channel.tenant, number=number, started_at=long_ago)
    Message.objects.filter(pk=settled_message.pk).update(status=MessageStatus.SENT)
    Message.objects.filter(pk=leased.pk).update(
        status=MessageStatus.SENDING, lease_expires_at=timezone.now() + timedelta(minutes=1)
    )

    counts = outbound_sweep(now=timezone.now())

    assert (counts["outbox_cleared"], counts["attempts_closed"]) == (1, 2)
    assert set(OutboxEntry.objects.values_list("message_id", flat=True)) == {in_flight.pk, leased.pk}
    outcomes = dict(SendAttempt.objects.values_list("message_id", "outcome"))
    assert outcomes[settled_message.pk] == AttemptOutcome.UNKNOWN
    assert outcomes[leased.pk] == AttemptOutcome.PENDING  # its worker may still be in the call
