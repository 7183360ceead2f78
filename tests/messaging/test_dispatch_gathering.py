"""A single send's task takes along the messages published and waiting for a worker behind it in the queue, one try
in this process against the simulator: only those already published, due, on an active channel, and only once its
own message is leased."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Tenant
from messaging.models import Channel, ChannelStatus, Message, MessageStatus, MetaApp, OutboxEntry
from messaging.outbound.dispatch import message_send, message_send_gathering
from messaging.outbound.dispatch import send as dispatch_send
from tests.messaging.dispatch_support import channel_pair, meta_app_for, phone_numbers, queued_messages
from tests.simulator.conftest import SimulatorClient

pytestmark = pytest.mark.django_db

PHONE_NUMBER_ID = "106540352249101"
OTHER_PHONE_NUMBER_ID = "106540352249102"
PAUSED_PHONE_NUMBER_ID = "106540352249103"


@pytest.fixture
def meta_app(
    tenant_a: Tenant, simulator: SimulatorClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> MetaApp:
    settings.GATEWAY_GRAPH_BASE_URL = simulator.base_url
    monkeypatch.setattr(dispatch_send, "GRANT_VALID_MIN_MS", 60_000)  # nothing is timed: no stale grant
    return meta_app_for(tenant_a)


def published(*messages: Message, at_offset: timedelta = timedelta(0)) -> None:
    """Their outbox rows stamped published now (their task is on its way), due ``at_offset`` from now."""
    now = timezone.now()
    for message in messages:
        OutboxEntry.objects.filter(message=message).update(published_at=now, available_at=now + at_offset)
        Message.objects.filter(pk=message.pk).update(next_attempt_at=now + at_offset if at_offset else None)


def accepted_total(simulator: SimulatorClient) -> int:
    return int(simulator.request("GET", "/_sim/sends?ids=false").body["accepted_total"])


def statuses(*messages: Message) -> list[str]:
    return [Message.objects.get(pk=message.pk).status for message in messages]


def test_a_send_takes_along_the_published_due_messages_of_active_channels_and_leaves_the_rest(
    simulator: SimulatorClient, meta_app: MetaApp
) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    other = channel_pair(simulator, meta_app, provider_id=OTHER_PHONE_NUMBER_ID)
    paused = channel_pair(simulator, meta_app, provider_id=PAUSED_PHONE_NUMBER_ID)
    own, waiting, never_published, not_due = queued_messages(channel, phone_numbers(4, start=9101))
    [other_waiting] = queued_messages(other, phone_numbers(1, start=9201))
    [paused_waiting] = queued_messages(paused, phone_numbers(1, start=9301))
    published(own, waiting, other_waiting, paused_waiting)
    published(not_due, at_offset=timedelta(seconds=30))
    Channel.objects.filter(pk=paused.pk).update(status=ChannelStatus.PAUSED)
    before = accepted_total(simulator)

    outcomes = message_send_gathering(message_id=own.pk)

    assert outcomes == Counter({"accepted": 3})
    assert statuses(own, waiting, other_waiting) == [MessageStatus.ACCEPTED] * 3
    assert statuses(never_published, not_due, paused_waiting) == [MessageStatus.QUEUED] * 3
    assert accepted_total(simulator) == before + 3
    assert message_send(message_id=waiting.pk) == "not_queued"  # its own task finds nothing to do


def test_a_send_whose_message_is_not_leased_takes_nothing_along(simulator: SimulatorClient, meta_app: MetaApp) -> None:
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    own, waiting = queued_messages(channel, phone_numbers(2, start=9401))
    assert message_send(message_id=own.pk) == "accepted"
    published(waiting)

    assert message_send_gathering(message_id=own.pk) == Counter({"not_queued": 1})  # a duplicate publish

    assert statuses(waiting) == [MessageStatus.QUEUED]
