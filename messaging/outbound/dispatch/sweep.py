"""The sweeper (beat): leases that ran out, silences that lasted, and what a status webhook settled meanwhile."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F

from core.tasks import Counts
from messaging.models import AttemptOutcome, Message, MessageStatus, OutboxEntry, SendAttempt

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
    unconfirmed = Message.objects.filter(pk__in=stuck, status=MessageStatus.SENDING, lease_expires_at__lt=now).update(
        status=MessageStatus.UNCONFIRMED,
        lease_expires_at=None,
        next_attempt_at=now + timedelta(seconds=settings.GATEWAY_SEND_UNCONFIRMED_SILENCE),
        attempt_count=F("attempt_count") + 1,
    )
    SendAttempt.objects.filter(message_id__in=stuck, outcome=AttemptOutcome.PENDING).update(
        outcome=AttemptOutcome.UNKNOWN, finished_at=now
    )
    silent = list(
        Message.objects.filter(status=MessageStatus.UNCONFIRMED, next_attempt_at__lte=now).values_list(
            "pk", "attempt_count"
        )[:SWEEP_BATCH]
    )
    limit = settings.GATEWAY_SEND_MAX_TRANSIENT_ATTEMPTS
    spent = [pk for pk, count in silent if count >= limit]
    retry = [pk for pk, count in silent if count < limit]
    with transaction.atomic():
        failed = Message.objects.filter(pk__in=spent, status=MessageStatus.UNCONFIRMED).update(
            status=MessageStatus.FAILED,
            failure_title=f"No answer from Meta after {limit} attempts",
            next_attempt_at=None,
        )
        OutboxEntry.objects.filter(message_id__in=spent, message__status=MessageStatus.FAILED).delete()
        requeued = Message.objects.filter(
            pk__in=retry, status=MessageStatus.UNCONFIRMED, next_attempt_at__lte=now
        ).update(status=MessageStatus.QUEUED, next_attempt_at=None)
        OutboxEntry.objects.filter(message_id__in=retry, message__status=MessageStatus.QUEUED).update(
            available_at=now, published_at=None
        )
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
