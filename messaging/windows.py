"""Conversations whose reply window closes soon: each window's closing is announced once, as a
``conversation.window_closing`` business event, ``GATEWAY_WINDOW_CLOSING_NOTICE_MINUTES`` before it closes.

A window is the platform's (``Adapter.reply_window``) from ``Conversation.last_inbound_at``, as the send rules
judge it. A conversation is marked with the ``last_inbound_at`` it was announced for, in the transaction that
records the event, on rows locked with SKIP LOCKED and re-checked under the lock: two runs never announce the
same window twice, and a contact who writes again opens a new window, announced in its turn. A window that
closed while nothing ran is not announced late.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F

from messaging.business_events import BusinessEvent, EventType, business_events_record
from messaging.models import Channel, Conversation
from messaging.providers.registry import reply_windows

BATCH_SIZE = 500
RUN_SECONDS = 20.0  # well inside the beat's minute


def conversation_windows_closing(
    *, now: datetime, batch_size: int = BATCH_SIZE, run_seconds: float = RUN_SECONDS
) -> dict[str, int]:
    """Announce the windows closing within the notice, ``batch_size`` conversations a transaction, until none
    is left or ``run_seconds`` have passed (the next run goes on); returns how many, by platform."""
    notice = timedelta(minutes=settings.GATEWAY_WINDOW_CLOSING_NOTICE_MINUTES)
    deadline = time.monotonic() + run_seconds
    announced: Counter[str] = Counter()
    for platform, window in reply_windows().items():
        while time.monotonic() < deadline:
            count = _windows_announce(platform, window, notice=notice, now=now, batch_size=batch_size)
            announced[platform.value] += count
            if count < batch_size:
                break
    return dict(+announced)


def _windows_announce(platform: str, window: timedelta, *, notice: timedelta, now: datetime, batch_size: int) -> int:
    """One batch: windows closing in (now, now + notice], i.e. opened in (now - window, now - window + notice]."""
    due = Conversation.objects.filter(
        channel_id__in=Channel.objects.filter(platform=platform).values("pk"),
        last_inbound_at__gt=now - window,
        last_inbound_at__lte=now - window + notice,
    ).exclude(window_closing_noticed_for=F("last_inbound_at"))
    with transaction.atomic():
        rows = list(
            due.order_by("last_inbound_at")
            .select_for_update(skip_locked=True)
            .only("pk", "tenant_id", "channel_id", "contact_id", "last_inbound_at")[:batch_size]
        )
        if rows:
            Conversation.objects.filter(pk__in=[row.pk for row in rows]).update(
                window_closing_noticed_for=F("last_inbound_at")
            )
            business_events_record([_window_closing_event(row, window, now) for row in rows])
    return len(rows)


def _window_closing_event(conversation: Conversation, window: timedelta, now: datetime) -> BusinessEvent:
    assert conversation.last_inbound_at is not None  # noqa: S101 - the filter names only conversations with one
    return BusinessEvent(
        type=EventType.CONVERSATION_WINDOW_CLOSING,
        tenant_id=conversation.tenant_id,
        occurred_at=now,
        channel_id=conversation.channel_id,
        conversation_id=conversation.pk,
        contact_id=conversation.contact_id,
        facts={"window_expires_at": (conversation.last_inbound_at + window).isoformat()},
    )
