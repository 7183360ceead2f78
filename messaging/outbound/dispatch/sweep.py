"""The sweeper (beat): leases that ran out, silences that lasted, and what a status webhook settled meanwhile."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from core.tasks import Counts
from messaging.models import AttemptOutcome, Message, MessageStatus, OutboxEntry, SendAttempt
from messaging.outbound.dispatch.transitions import leases_expired_unconfirm, silences_settle

SWEEP_BATCH = 1000


def outbound_sweep(*, now: datetime) -> Counts:
    """``sending`` past its lease → ``unconfirmed`` (a worker died mid-send); ``unconfirmed`` past the silence
    → ``queued`` again (or failed once the retry budget is spent). Each move is conditional on the status,
    so a status webhook that arrived meanwhile wins."""
    stuck = list(
        Message.objects.filter(status=MessageStatus.SENDING, lease_expires_at__lt=now).values_list("pk", flat=True)[
            :SWEEP_BATCH
        ]
    )
    unconfirmed = leases_expired_unconfirm(stuck, now=now)
    SendAttempt.objects.filter(message_id__in=stuck, outcome=AttemptOutcome.PENDING).update(
        outcome=AttemptOutcome.UNKNOWN, finished_at=now
    )
    silent = list(
        Message.objects.filter(status=MessageStatus.UNCONFIRMED, next_attempt_at__lte=now).values_list(
            "pk", "attempt_count"
        )[:SWEEP_BATCH]
    )
    requeued, failed = silences_settle(silent, now=now)
    return {"unconfirmed": unconfirmed, "requeued": requeued, "failed": failed, **_settled_leftovers_clear(now)}


IN_FLIGHT = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.UNCONFIRMED)


def _settled_leftovers_clear(now: datetime) -> Counts:
    """A status webhook can settle a message whose worker died before recording Meta's answer: drop its outbox
    row and close its attempt as ``unknown`` (the answer never came). Never touches a message still in flight."""
    settled_rows = OutboxEntry.objects.exclude(message__status__in=IN_FLIGHT).values_list("pk", flat=True)
    outbox = OutboxEntry.objects.filter(pk__in=list(settled_rows[:SWEEP_BATCH])).delete()[0]
    lease = timedelta(seconds=settings.GATEWAY_SEND_LEASE_SECONDS)
    attempts = (
        SendAttempt.objects.filter(outcome=AttemptOutcome.PENDING, started_at__lt=now - lease)
        .exclude(message__status=MessageStatus.SENDING)
        .update(outcome=AttemptOutcome.UNKNOWN, finished_at=now)
    )
    return {"outbox_cleared": outbox, "attempts_closed": attempts}
