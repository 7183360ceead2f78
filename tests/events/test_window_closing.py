"""``conversation.window_closing``: once per reply window, within the notice before it closes, batched; a
contact who writes again opens a window announced in its turn."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from pytest_django.fixtures import Settings

from messaging import tasks
from messaging.business_events import EventType
from messaging.models import Channel, Conversation
from messaging.windows import conversation_windows_closing
from tests.clock import StoppedClock
from tests.events.emission_support import deliver, events_of, fixture_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_closing_window_is_announced_once_within_the_notice_and_again_for_the_next_window(
    channel_a: Channel, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.GATEWAY_WINDOW_CLOSING_NOTICE_MINUTES = 60
    document = fixture_for(channel_a, "whatsapp_text.json")
    deliver(channel_a, document)
    conversation = Conversation.objects.get()
    assert conversation.last_inbound_at is not None
    expires_at = conversation.last_inbound_at + timedelta(hours=24)
    clock = StoppedClock(expires_at - timedelta(minutes=61))
    monkeypatch.setattr(tasks, "timezone", clock)

    assert tasks.conversation_windows_closing_task() == {}  # not yet within the notice
    clock.at = expires_at - timedelta(minutes=59)
    assert tasks.conversation_windows_closing_task() == {"whatsapp": 1}
    assert tasks.conversation_windows_closing_task() == {}  # once per window
    clock.at = expires_at + timedelta(minutes=1)
    assert tasks.conversation_windows_closing_task() == {}

    [event] = events_of(EventType.CONVERSATION_WINDOW_CLOSING)
    assert (event.conversation_id, event.contact_id, event.channel_id) == (
        conversation.pk,
        conversation.contact_id,
        channel_a.pk,
    )
    assert (event.occurred_at, event.facts) == (
        expires_at - timedelta(minutes=59),
        {"window_expires_at": expires_at.isoformat()},
    )

    # The contact writes again: a new window, announced in its turn.
    message = document["entry"][0]["changes"][0]["value"]["messages"][0]
    later = conversation.last_inbound_at + timedelta(hours=30)
    message.update(id="wamid.later", timestamp=str(int(later.timestamp())))
    deliver(channel_a, document)
    clock.at = later + timedelta(hours=23, minutes=30)
    assert tasks.conversation_windows_closing_task() == {"whatsapp": 1}
    assert [event.facts["window_expires_at"] for event in events_of(EventType.CONVERSATION_WINDOW_CLOSING)] == [
        expires_at.isoformat(),
        (later + timedelta(hours=24)).isoformat(),
    ]


def test_windows_are_announced_in_batches_until_none_is_left(channel_a: Channel, settings: Settings) -> None:
    settings.GATEWAY_WINDOW_CLOSING_NOTICE_MINUTES = 60
    document = fixture_for(channel_a, "whatsapp_text.json")
    value = document["entry"][0]["changes"][0]["value"]
    first = value["messages"][0]
    value["messages"] = [{**first, "id": f"wamid.w{index}", "from": f"1650555{index:04d}"} for index in range(5)]
    value["contacts"] = [{"profile": {"name": "A"}, "wa_id": f"1650555{index:04d}"} for index in range(5)]
    deliver(channel_a, document)
    opened = datetime.fromtimestamp(int(first["timestamp"]), tz=UTC)

    now = opened + timedelta(hours=23, minutes=30)
    assert conversation_windows_closing(now=now, batch_size=2) == {"whatsapp": 5}
    assert conversation_windows_closing(now=now, batch_size=2) == {}
    assert len(events_of(EventType.CONVERSATION_WINDOW_CLOSING)) == 5
    assert set(Conversation.objects.values_list("window_closing_noticed_for", flat=True)) == {opened}


def test_two_runs_at_once_announce_each_window_once(channel_a: Channel, settings: Settings) -> None:
    settings.GATEWAY_WINDOW_CLOSING_NOTICE_MINUTES = 60
    document = fixture_for(channel_a, "whatsapp_text.json")
    value = document["entry"][0]["changes"][0]["value"]
    first = value["messages"][0]
    people = [f"1650666{index:04d}" for index in range(120)]
    value["messages"] = [{**first, "id": f"wamid.r{index}", "from": person} for index, person in enumerate(people)]
    value["contacts"] = [{"profile": {"name": "A"}, "wa_id": person} for person in people]
    deliver(channel_a, document)
    now = datetime.fromtimestamp(int(first["timestamp"]), tz=UTC) + timedelta(hours=23, minutes=30)
    announced: list[dict[str, int]] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            announced.append(conversation_windows_closing(now=now, batch_size=7))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts.get("whatsapp", 0) for counts in announced) == 120
    events = events_of(EventType.CONVERSATION_WINDOW_CLOSING)
    assert len({event.conversation_id for event in events}) == len(events) == 120
