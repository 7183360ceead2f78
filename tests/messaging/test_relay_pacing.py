"""The relay publishes a channel's backlog at the channel's rate: batches with countdowns from the channel's
schedule (core.ratelimit), a second's rate at a time, instead of everything at once to be refused and given back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from celery import current_app
from django.utils import timezone

from accounts.models import Tenant
from core import ratelimit
from core.ratelimit import send_schedule_reserve
from core.redis import redis_configured
from messaging.models import OutboxEntry
from messaging.outbound.dispatch.relay import channel_budget, outbox_relay
from messaging.task_names import SEND_BATCH_TASK
from tests.messaging.dispatch_support import channel_pair, meta_app_for, phone_numbers, queued_messages
from tests.simulator.conftest import SimulatorClient

pytestmark = pytest.mark.django_db

RATE = 10
Published = list[tuple[list[str], float]]  # a batch's message ids and its countdown


@pytest.fixture(autouse=True)
def _schedules_outlive_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """The schedule runs on Redis's clock here: its key must not expire however slow the machine."""
    monkeypatch.setattr(ratelimit, "COUNTER_TTL_MS", 600_000)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    """What the relay hands the broker: each send-batch task's ids and countdown."""
    sent: Published = []

    def send_task(name: str, *, args: list[Any], countdown: float | None = None) -> None:
        assert name == SEND_BATCH_TASK
        sent.append((list(args[0]), countdown or 0.0))

    monkeypatch.setattr(current_app, "send_task", send_task)
    return sent


def test_a_backlog_is_published_a_seconds_rate_at_a_time_behind_the_channels_schedule(
    tenant_a: Tenant,
    simulator: SimulatorClient,
    published: Published,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    """30 messages (the relay's three seconds ahead) on a channel of 10/s whose schedule is already promised up to
    the end of a second (two seconds of sends due back, say): three batches of 10, a second apart, from the start
    of the next second; every message once, in due order."""
    channel = channel_pair(simulator, meta_app_for(tenant_a), provider_id="106540352249401", send_rate=RATE)
    messages = queued_messages(channel, phone_numbers(3 * RATE, start=9401))
    promised = send_schedule_reserve(channel_budget(channel), 2 * RATE, most=RATE)
    if promised[-1][1] < RATE:  # a second taken in part: promise the rest of it
        send_schedule_reserve(channel_budget(channel), RATE - promised[-1][1], most=RATE)

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_relay(now=timezone.now() + timedelta(seconds=1), grace=timedelta(0)) == 3 * RATE

    assert [pk for ids, _ in published for pk in ids] == [str(message.pk) for message in messages]
    assert OutboxEntry.objects.filter(channel=channel, published_at__isnull=True).count() == 0
    sizes = [len(ids) for ids, _ in published]
    countdowns = [countdown for _, countdown in published]
    if not redis_configured():  # no shared schedule on the embedded default: batches as a task takes them, now
        assert promised[-1] == (0.0, RATE)
        assert sizes == [3 * RATE] and countdowns == [0.0]
        return
    assert sizes == [RATE, RATE, RATE]
    assert 1.0 < countdowns[0] <= 3.0  # the second after the promised sends' last
    assert [round(later - earlier, 3) for earlier, later in pairwise(countdowns)] == [1.0, 1.0]


@pytest.mark.skipif(not redis_configured(), reason="the send schedule is Redis's")
def test_rows_past_the_schedules_horizon_stay_for_a_later_run(
    tenant_a: Tenant,
    simulator: SimulatorClient,
    published: Published,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    """A channel whose schedule is promised up to its horizon (sends given back after refusals): the relay
    publishes nothing now, and its rows stay unpublished for a run that finds places."""
    channel = channel_pair(simulator, meta_app_for(tenant_a), provider_id="106540352249402", send_rate=RATE)
    queued_messages(channel, phone_numbers(RATE, start=9501))
    send_schedule_reserve(channel_budget(channel), 12 * RATE, most=RATE)

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_relay(now=timezone.now() + timedelta(seconds=1), grace=timedelta(0)) == 0

    assert published == []
    assert OutboxEntry.objects.filter(channel=channel, published_at__isnull=True).count() == RATE
