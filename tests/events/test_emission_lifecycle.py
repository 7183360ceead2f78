"""Business events of the dispatcher (accepted, failed), of channels paused and resumed and of a contact's
erasure: each recorded by the service that makes the change, in its transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Tenant
from events.models import Event
from messaging.business_events import EventType
from messaging.models import Channel, Message, MessageStatus
from messaging.outbound.dispatch.channels import DISPATCHER_ACTOR, channel_pause, channel_resume
from messaging.outbound.dispatch.sweep import outbound_sweep
from messaging.outbound.dispatch.transitions import message_accept
from policies.subjects.erasure import contact_erase
from tests.conftest import wait_for
from tests.events.conftest import TEST_ACTOR
from tests.events.emission_support import deliver, events_of, fixture_for, whatsapp_status
from tests.messaging.dispatch_support import (
    channel_pair,
    dispatch_pump,
    meta_app_for,
    outbound_workers,
    queued_messages,
    settled,
    worker_env,
)
from tests.simulator.conftest import SimulatorClient

pytestmark = pytest.mark.django_db(transaction=True)


def _status_of(message: Message) -> tuple[object, ...]:
    [event] = [event for event in events_of(EventType.MESSAGE_STATUS) if event.message_id == message.pk]
    ids = (event.conversation_id, event.contact_id, event.channel_id)
    assert ids == (message.conversation_id, message.contact_id, message.channel_id)
    return (event.facts["status"], event.facts["error_code"], event.facts["error_title"])


@pytest.mark.slow
def test_the_dispatchers_accepted_and_failed_are_status_events(
    simulator: SimulatorClient, simulator_url: str, tenant_a: Tenant
) -> None:
    meta_app = meta_app_for(tenant_a)
    open_window = channel_pair(simulator, meta_app, provider_id="106540352242922")
    closed_window = channel_pair(simulator, meta_app, provider_id="106540352242923", enforce_window=True)
    [accepted] = queued_messages(open_window, ["15550001111"])
    [refused] = queued_messages(closed_window, ["15550002222"])

    with outbound_workers(1, worker_env(simulator_url)) as [worker], dispatch_pump():
        assert wait_for(lambda: settled([accepted, refused]), 60), worker.log()

    refused.refresh_from_db()
    assert _status_of(accepted) == ("accepted", None, None)
    assert _status_of(refused) == ("failed", 131047, refused.failure_title)
    assert "24 hours" in refused.failure_title


def test_an_accept_records_accepted_then_the_status_that_raced_it(channel_a: Channel) -> None:
    """Meta's ``sent`` arrived before its answer (parked, no message has the id yet): accepting records
    ``accepted``, then the parked status is applied and recorded, in order."""
    [message] = queued_messages(channel_a, ["15550003333"])
    sent_at = datetime(2025, 6, 28, 20, 1, tzinfo=UTC)
    deliver(channel_a, whatsapp_status(channel_a, "wamid.raced", "sent", sent_at))
    assert not events_of(EventType.MESSAGE_STATUS)

    message_accept(message, provider_message_id="wamid.raced")
    message_accept(message, provider_message_id="wamid.raced")  # a repeat moves nothing: no event

    statuses = [event.facts["status"] for event in Event.objects.filter(type=EventType.MESSAGE_STATUS)]
    assert sorted(statuses) == ["accepted", "sent"]
    assert Message.objects.get(pk=message.pk).status == MessageStatus.SENT


def test_a_silence_that_spends_the_retry_budget_is_a_failed_status_event(
    channel_a: Channel, settings: Settings
) -> None:
    settings.GATEWAY_SEND_MAX_TRANSIENT_ATTEMPTS = 2
    [silent, still_trying] = queued_messages(channel_a, ["15550004444", "15550005555"])
    now = timezone.now()
    Message.objects.filter(pk=silent.pk).update(status=MessageStatus.UNCONFIRMED, attempt_count=2, next_attempt_at=now)
    Message.objects.filter(pk=still_trying.pk).update(
        status=MessageStatus.UNCONFIRMED, attempt_count=1, next_attempt_at=now
    )

    assert outbound_sweep(now=now)["failed"] == 1
    assert outbound_sweep(now=now)["failed"] == 0

    assert _status_of(silent) == ("failed", None, "No answer from Meta after 2 attempts")
    assert [event.message_id for event in events_of(EventType.MESSAGE_STATUS)] == [silent.pk]


def test_a_channel_paused_and_resumed_records_each_once_with_the_reason(channel_a: Channel) -> None:
    assert channel_pause(channel=channel_a, code=190, title="Access token expired")
    assert not channel_pause(channel=channel_a, code=190, title="Access token expired")
    channel_resume(channel=channel_a, actor=DISPATCHER_ACTOR)

    [paused] = events_of(EventType.CHANNEL_PAUSED)
    [resumed] = events_of(EventType.CHANNEL_RESUMED)
    assert (paused.channel_id, paused.facts) == (channel_a.pk, {"reason": "Access token expired", "error_code": 190})
    assert (resumed.channel_id, resumed.facts) == (channel_a.pk, {})


def test_a_channel_paused_and_resumed_in_the_admin_records_each(operator_client: Client, channel_a: Channel) -> None:
    url = reverse("admin:messaging_channel_change", args=[channel_a.pk])
    form = {"display_name": "Main", "new_access_token": "", "_save": "Save"}

    operator_client.post(url, {**form, "status": "paused"})
    assert Channel.objects.get(pk=channel_a.pk).status == "paused"
    operator_client.post(url, {**form, "status": "active"})

    [paused] = events_of(EventType.CHANNEL_PAUSED)
    assert (paused.channel_id, paused.facts) == (channel_a.pk, {"reason": "Paused in the admin", "error_code": None})
    assert [event.channel_id for event in events_of(EventType.CHANNEL_RESUMED)] == [channel_a.pk]
    assert Channel.objects.get(pk=channel_a.pk).status == "active"


def test_an_erased_contact_is_an_event_and_its_events_hold_nothing_of_the_person(
    tenant_a: Tenant, channel_a: Channel
) -> None:
    document = fixture_for(channel_a, "whatsapp_text.json")
    value = document["entry"][0]["changes"][0]["value"]
    deliver(channel_a, document)
    contact = Message.objects.get().contact

    contact_erase(tenant=tenant_a, contact=contact, actor=TEST_ACTOR)

    [erased] = events_of(EventType.CONTACT_ERASED)
    assert (erased.contact_id, erased.channel_id, erased.message_id, erased.facts) == (
        contact.pk,
        channel_a.pk,
        None,
        {},
    )
    # Content stays in the message row, which erasure deleted: what is left of the person is ids and facts.
    assert not Message.objects.exists()
    left = Event.objects.filter(contact_id=contact.pk)
    assert sorted(left.values_list("type", flat=True)) == ["contact.erased", "message.received"]
    stored = json.dumps([event.facts for event in left])
    for personal in (value["messages"][0]["from"], value["contacts"][0]["profile"]["name"]):
        assert personal not in stored
    assert value["messages"][0]["text"]["body"] not in stored
    assert {key for event in left for key in event.facts} <= {"direction", "type", "platform"}
