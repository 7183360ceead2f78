"""The dispatcher: one queued outbound message, one Graph call at a time, never two sends of it on purpose.

The lifecycle (the contract with ``messaging.outbound``): the API writes the message ``queued`` with its
outbox row. The task ``outbound.send`` takes a lease (a conditional UPDATE ``queued → sending``: only one
worker can win it, and only while the channel is active and the message is due), takes a send budget from
core.ratelimit (the channel's per-second budget and the recipient's pair rate, shared by every worker),
records the attempt (committed *before* the call, so a killed worker leaves a ``pending`` attempt behind),
then calls Graph. The answer is classified by messaging.providers.errors and ends as:

* accepted: the provider id stored, statuses that raced the answer applied, the outbox row deleted;
* queued again with ``next_attempt_at`` (throttled: no retry budget used; transient: backoff with full jitter,
  honouring ``Retry-After``; channel-level error: the channel paused and the message held until resumed);
* failed (code and title; the outbox row deleted);
* unconfirmed: the call may have reached Meta (a read timeout, a reset). It is not resent until
  GATEWAY_SEND_UNCONFIRMED_SILENCE passes without a status webhook carrying our id (the status engine finds
  it by ``biz_opaque_callback_data`` and moves it forward, which takes it out of the sweeper's reach).

Beat jobs: the relay publishes outbox rows that are due and were never published (or were published long
ago and their message is still queued: a lost publish); the sweeper turns ``sending`` past its lease (a
killed worker) into ``unconfirmed``, and ``unconfirmed`` past the silence back into ``queued``.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from accounts.actors import Actor
from audit.models import AuditAction
from audit.services import audit_record
from core.http import HttpError, HttpResponse, http_post_json
from core.ratelimit import CHANNEL, RECIPIENT, Grant, SendBudget, send_budget_hold, send_budget_take
from core.tasks import Counts
from messaging.models import (
    AttemptOutcome,
    Channel,
    ChannelAlert,
    ChannelStatus,
    Message,
    MessageStatus,
    OutboxEntry,
    Platform,
    SendAttempt,
)
from messaging.providers import errors
from messaging.providers.errors import ErrorPolicy, OutcomeKind, Scope
from messaging.providers.meta_messaging import send as messaging_send
from messaging.providers.whatsapp import send as whatsapp_send
from messaging.services import MessagingError
from messaging.statuses import parked_statuses_apply, predecessors

logger = logging.getLogger(__name__)

SEND_TASK = "outbound.send"
DISPATCHER_ACTOR = Actor(label="dispatcher")
SLEEP_MAX_SECONDS = 0.25  # a budget refusal this short is waited out in the worker
TAKE_TRIES = 4
COUNTDOWN_MAX_SECONDS = 10.0  # a longer wait is left to the relay (rows polled by beat, never long ETAs)
COUNTDOWN_JITTER_SECONDS = 0.3  # the least spread of messages a full second refused over the next ones
THROTTLE_JITTER = 0.2  # a throttle delay is stretched by up to this fraction, so held sends do not all return at once
RELAY_GRACE = timedelta(seconds=5)  # a new row is published on commit by the API; the relay is the fallback
REPUBLISH_AFTER = timedelta(seconds=60)  # published this long ago and still queued: the publish was lost
RELAY_BATCH = 500
RELAY_MAX_BATCHES = 20
SWEEP_BATCH = 1000
LEASE_MARGIN_SECONDS = 5
NO_PAIR_LIMIT_TYPES = frozenset({"mark_read"})  # not a message to the user: only the channel's budget

GraphRequest = Callable[..., tuple[str, dict[str, Any]]]
GRAPH_REQUESTS: dict[str, GraphRequest] = {
    Platform.WHATSAPP: whatsapp_send.graph_request,
    Platform.MESSENGER: messaging_send.graph_request,
    Platform.INSTAGRAM: messaging_send.graph_request,
}


@dataclass(frozen=True, slots=True)
class CallResult:
    """What one Graph call came to: ``policy`` None means accepted. Codes and ids only, never Meta's text."""

    policy: ErrorPolicy | None
    provider_message_id: str | None = None
    http_status: int | None = None
    error_code: int | None = None
    fbtrace_id: str = ""
    retry_after_seconds: float | None = None

    @property
    def outcome(self) -> str:
        return AttemptOutcome.ACCEPTED if self.policy is None else str(self.policy.kind)


# --- the send ---------------------------------------------------------------------------------------


def message_send(*, message_id: uuid.UUID) -> str:
    """One try at sending; returns what happened (for logs and tests)."""
    now = timezone.now()
    if not message_lease(message_id=message_id, now=now):
        return _not_leased(message_id, now)
    message = Message.objects.select_related("channel", "contact").get(pk=message_id)
    try:
        path, body = _graph_request(message)
    except (ValueError, KeyError, TypeError):
        message_fail(message, code=None, title="The stored send request cannot be turned into a Graph call")
        return "failed"
    attempt = attempt_start(message)
    budget = send_budget_for(message)
    # Right before the call: core.ratelimit's guard must cover the time from the grant to Meta receiving it.
    grant = _budget_take(budget)
    if not grant.is_granted:
        SendAttempt.objects.filter(pk=attempt.pk).delete()  # no call was made
        spread = max(grant.backlog_seconds, COUNTDOWN_JITTER_SECONDS)
        delay = grant.wait_seconds + random.uniform(0, spread)  # noqa: S311 - jitter, not security
        message_requeue(message, delay_seconds=delay, counts_as_attempt=False)
        return f"throttled_by_{grant.refused_by}"
    result = graph_call(message.channel, path, body)
    return outcome_apply(message, attempt, result, budget)


def message_lease(*, message_id: uuid.UUID, now: datetime) -> bool:
    """``queued → sending`` for one worker only. The condition is on the message's own columns (the channel's
    status through ``channel_id IN``, no join), so PostgreSQL re-checks it on the row a concurrent worker
    just changed and the loser matches nothing."""
    lease = max(
        settings.GATEWAY_SEND_LEASE_SECONDS,
        settings.GATEWAY_SEND_TIMEOUT + settings.GATEWAY_HTTP_CONNECT_TIMEOUT + LEASE_MARGIN_SECONDS,
    )
    return bool(
        Message.objects.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            pk=message_id,
            status=MessageStatus.QUEUED,
            channel_id__in=Channel.objects.filter(status=ChannelStatus.ACTIVE).values("pk"),
        ).update(status=MessageStatus.SENDING, lease_expires_at=now + timedelta(seconds=lease))
    )


def _not_leased(message_id: uuid.UUID, now: datetime) -> str:
    """Why there was nothing to do. A held or early message gets its outbox row back into the relay's view."""
    row = Message.objects.filter(pk=message_id).values("status", "next_attempt_at", "channel__status").first()
    if row is None:
        return "missing"
    if row["status"] != MessageStatus.QUEUED:
        return "not_queued"
    OutboxEntry.objects.filter(message_id=message_id).update(published_at=None)
    if row["channel__status"] != ChannelStatus.ACTIVE:
        return "held"
    return "not_due"


def send_budget_for(message: Message) -> SendBudget:
    """The channel's budget, and the recipient's pair rate for WhatsApp messages to a user."""
    channel = message.channel
    has_pair_limit = (
        channel.platform == Platform.WHATSAPP
        and message.message_type not in NO_PAIR_LIMIT_TYPES
        and settings.GATEWAY_SEND_PAIR_PERIOD_SECONDS > 0
    )
    return SendBudget(
        channel_key=f"send:channel:{channel.pk}",
        channel_rate=channel.send_rate,
        recipient_key=f"send:pair:{channel.pk}:{message.contact_id}" if has_pair_limit else None,
        pair_period_seconds=float(settings.GATEWAY_SEND_PAIR_PERIOD_SECONDS),
        pair_burst=settings.GATEWAY_SEND_PAIR_BURST,
        guard_ms=settings.GATEWAY_SEND_RATE_GUARD_MS,
    )


def _budget_take(budget: SendBudget) -> Grant:
    grant = send_budget_take(budget)
    for _ in range(TAKE_TRIES - 1):
        if grant.is_granted or grant.wait_seconds > SLEEP_MAX_SECONDS:
            break
        time.sleep(grant.wait_seconds)
        grant = send_budget_take(budget)
    return grant


def _graph_request(message: Message) -> tuple[str, dict[str, Any]]:
    if not isinstance(message.content, dict):
        raise TypeError("no content")
    build = GRAPH_REQUESTS[message.channel.platform]
    return build(message.content, recipient=message.contact.external_id, callback_id=str(message.pk))


def attempt_start(message: Message) -> SendAttempt:
    """The ledger row, committed before the call (the caller is not inside a transaction)."""
    number = (
        SendAttempt.objects.filter(message_id=message.pk).order_by("-number").values_list("number", flat=True).first()
        or 0
    ) + 1
    return SendAttempt.objects.create(
        message_id=message.pk, tenant_id=message.tenant_id, number=number, started_at=timezone.now()
    )


def graph_call(channel: Channel, path: str, body: dict[str, Any]) -> CallResult:
    """POST the body with the channel's token. Transport failures are results too, never exceptions."""
    base = f"{settings.GATEWAY_GRAPH_BASE_URL}/{settings.GATEWAY_GRAPH_API_VERSION}"
    try:
        response = http_post_json(
            f"{base}/{channel.provider_id}/{path}",
            payload=body,
            headers={"Authorization": f"Bearer {channel.access_token}"},
            timeout=settings.GATEWAY_SEND_TIMEOUT,
        )
    except HttpError as error:
        return CallResult(errors.transport_error_policy(was_sent=error.may_have_been_sent))
    return call_result(response)


def call_result(response: HttpResponse) -> CallResult:
    """Classify a Graph answer by its error code (META-SPEC §8); a 2xx is an acceptance."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.is_success:
        return CallResult(None, _provider_message_id(answer), response.status)
    error = answer.get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
    trace = error.get("fbtrace_id")
    return CallResult(
        errors.error_policy(code=code, subcode=subcode, http_status=response.status),
        http_status=response.status,
        error_code=code,
        fbtrace_id=trace[:64] if isinstance(trace, str) else "",
        retry_after_seconds=_retry_after(response.headers.get("retry-after", "")),
    )


def _provider_message_id(answer: object) -> str | None:
    """``messages[0].id`` (WhatsApp) or ``message_id`` (Messenger/Instagram); None for mark-as-read."""
    if not isinstance(answer, dict):
        return None
    messages = answer.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        value = messages[0].get("id")
    else:
        value = answer.get("message_id")
    return value if isinstance(value, str) and value else None


def _retry_after(value: str) -> float | None:
    """Seconds, or an HTTP date (RFC 9110 §10.2.3)."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment.astimezone(UTC) - timezone.now()).total_seconds())


# --- outcomes ---------------------------------------------------------------------------------------


def outcome_apply(message: Message, attempt: SendAttempt, result: CallResult, budget: SendBudget) -> str:
    attempt_finish(attempt, result)
    policy = result.policy
    if policy is None:
        message_accept(message, provider_message_id=result.provider_message_id)
        return "accepted"
    if policy.kind == OutcomeKind.THROTTLED:
        return _throttled(message, policy, result, budget)
    if policy.kind == OutcomeKind.TRANSIENT:
        return _transient(message, policy, result)
    if policy.kind == OutcomeKind.CHANNEL:
        channel_pause(channel=message.channel, code=result.error_code, title=policy.title)
        message_hold(message)
        return "held"
    if policy.kind == OutcomeKind.UNKNOWN:
        message_unconfirm(message)
        return "unconfirmed"
    message_fail(message, code=result.error_code, title=policy.title)
    return "failed"


def attempt_finish(attempt: SendAttempt, result: CallResult) -> None:
    SendAttempt.objects.filter(pk=attempt.pk).update(
        finished_at=timezone.now(),
        outcome=result.outcome,
        http_status=result.http_status,
        error_code=result.error_code,
        error_title="" if result.policy is None else result.policy.title[:200],
        fbtrace_id=result.fbtrace_id,
    )


def _throttled(message: Message, policy: ErrorPolicy, result: CallResult, budget: SendBudget) -> str:
    delay = max(policy.delay_seconds, result.retry_after_seconds or 0.0)
    if policy.scope == Scope.CHANNEL:
        send_budget_hold(budget, scope=CHANNEL, seconds=delay)
    elif policy.scope == Scope.RECIPIENT and budget.recipient_key:
        send_budget_hold(budget, scope=RECIPIENT, seconds=delay)
    message_requeue(message, delay_seconds=delay * (1 + random.uniform(0, THROTTLE_JITTER)), counts_as_attempt=False)  # noqa: S311
    return "throttled"


def _transient(message: Message, policy: ErrorPolicy, result: CallResult) -> str:
    failures = message.attempt_count + 1
    budget = min(settings.GATEWAY_SEND_MAX_TRANSIENT_ATTEMPTS, policy.max_attempts or failures + 1)
    if failures >= budget:
        message_fail(message, code=result.error_code, title=f"{policy.title} ({failures} attempts)")
        return "failed"
    message_requeue(
        message, delay_seconds=backoff_seconds(failures, result.retry_after_seconds), counts_as_attempt=True
    )
    return "retry"


def backoff_seconds(failures: int, retry_after: float | None = None) -> float:
    """Full jitter: uniform between 0 and base * 2^(failures-1), capped; never before ``Retry-After``."""
    ceiling = min(
        settings.GATEWAY_SEND_BACKOFF_MAX_SECONDS, settings.GATEWAY_SEND_BACKOFF_SECONDS * 2 ** (failures - 1)
    )
    return max(random.uniform(0, ceiling), retry_after or 0.0)  # noqa: S311 - jitter, not security


def message_accept(message: Message, *, provider_message_id: str | None) -> None:
    """Store the provider id (through the model: it is sealed and blind-indexed) even when a status webhook
    already moved the message further, then move it to ``accepted`` if nothing moved it yet."""
    with transaction.atomic():
        if provider_message_id:
            message.provider_message_id = provider_message_id
            message.save(update_fields=["provider_message_id", "provider_message_index", "updated_at"])
        Message.objects.filter(pk=message.pk).update(
            status=Case(
                When(status__in=predecessors(MessageStatus.ACCEPTED), then=Value(MessageStatus.ACCEPTED)),
                default=F("status"),
            ),
            lease_expires_at=None,
            next_attempt_at=None,
        )
        OutboxEntry.objects.filter(message_id=message.pk).delete()
    if provider_message_id:
        parked_statuses_apply(messages=[message])


def message_requeue(message: Message, *, delay_seconds: float, counts_as_attempt: bool) -> None:
    """``sending → queued``, due after the delay. A short delay is published at once with a countdown; a
    longer one is left to the relay, which publishes the outbox row when it is due."""
    now = timezone.now()
    due_at = now + timedelta(seconds=delay_seconds)
    is_short = delay_seconds <= COUNTDOWN_MAX_SECONDS
    with transaction.atomic():
        moved = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED,
            next_attempt_at=due_at,
            lease_expires_at=None,
            attempt_count=F("attempt_count") + int(counts_as_attempt),
        )
        if not moved:
            return
        _outbox_set(message, available_at=due_at, published_at=now if is_short else None)
        if is_short:
            transaction.on_commit(functools.partial(_publish, message.pk, countdown=delay_seconds))


def message_hold(message: Message) -> None:
    """Back to ``queued`` on a paused channel: the relay publishes it once the channel is resumed."""
    with transaction.atomic():
        moved = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED, next_attempt_at=None, lease_expires_at=None
        )
        if moved:
            _outbox_set(message, available_at=timezone.now(), published_at=None)


def message_unconfirm(message: Message) -> None:
    """The call may have reached Meta: wait for a status webhook; resend only after the silence."""
    Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
        status=MessageStatus.UNCONFIRMED,
        lease_expires_at=None,
        next_attempt_at=timezone.now() + timedelta(seconds=settings.GATEWAY_SEND_UNCONFIRMED_SILENCE),
        attempt_count=F("attempt_count") + 1,
    )


def message_fail(message: Message, *, code: int | None, title: str) -> None:
    with transaction.atomic():
        failed = Message.objects.filter(
            pk=message.pk, status__in=[MessageStatus.SENDING, MessageStatus.UNCONFIRMED, MessageStatus.QUEUED]
        ).update(
            status=MessageStatus.FAILED,
            failure_code=code,
            failure_title=title[:200],
            lease_expires_at=None,
            next_attempt_at=None,
        )
        if failed:
            OutboxEntry.objects.filter(message_id=message.pk).delete()


def _outbox_set(message: Message, *, available_at: datetime, published_at: datetime | None) -> None:
    OutboxEntry.objects.update_or_create(
        message_id=message.pk,
        defaults={"available_at": available_at, "published_at": published_at},
        create_defaults={
            "tenant_id": message.tenant_id,
            "channel_id": message.channel_id,
            "available_at": available_at,
            "published_at": published_at,
        },
    )


def _publish(message_id: uuid.UUID, *, countdown: float = 0.0) -> None:
    current_app.send_task(SEND_TASK, args=[str(message_id)], countdown=countdown or None)


# --- channels ---------------------------------------------------------------------------------------


def channel_pause(*, channel: Channel, code: int | None, title: str) -> bool:
    """Stop sending on the channel (190, 368, 131031…): an alert for the admin, an audit event. Once only."""
    with transaction.atomic():
        paused = Channel.objects.filter(pk=channel.pk, status=ChannelStatus.ACTIVE).update(
            status=ChannelStatus.PAUSED, paused_reason=title[:200]
        )
        if not paused:
            return False
        ChannelAlert.objects.create(
            tenant_id=channel.tenant_id, channel_id=channel.pk, error_code=code or 0, error_title=title[:200]
        )
        audit_record(
            action=AuditAction.CHANNEL_PAUSED,
            tenant_id=channel.tenant_id,
            actor_label=DISPATCHER_ACTOR.label,
            target_type="channel",
            target_id=str(channel.pk),
            details={"error_code": code or 0},
        )
    logger.warning("channel paused", extra={"channel_id": str(channel.pk), "error_code": code})
    return True


def channel_resume(*, channel: Channel, actor: Actor) -> int:
    """Send again on a paused channel (after fixing its token, say): alerts resolved, held messages published.
    Returns how many were published."""
    now = timezone.now()
    with transaction.atomic():
        resumed = Channel.objects.filter(pk=channel.pk, status=ChannelStatus.PAUSED).update(
            status=ChannelStatus.ACTIVE, paused_reason=""
        )
        if not resumed:
            raise MessagingError("this channel is not paused")
        ChannelAlert.objects.filter(channel_id=channel.pk, resolved_at__isnull=True).update(resolved_at=now)
        published = outbox_relay(now=now, channel_id=channel.pk, grace=timedelta(0))
        audit_record(
            action=AuditAction.CHANNEL_RESUMED,
            tenant_id=channel.tenant_id,
            actor_id=actor.user_id,
            actor_label=actor.label,
            ip=actor.ip,
            target_type="channel",
            target_id=str(channel.pk),
            details={"published": published},
        )
    channel.status, channel.paused_reason = ChannelStatus.ACTIVE, ""
    return published


# --- beat: relay and sweeper ---------------------------------------------------------------------------


def outbox_relay(
    *, now: datetime, channel_id: uuid.UUID | None = None, grace: timedelta = RELAY_GRACE, batch: int = RELAY_BATCH
) -> int:
    """Publish outbox rows that are due on active channels and were never published (or long ago, and their
    message is still queued). Locked rows are skipped, so two relays never publish the same batch."""
    published = 0
    for _ in range(RELAY_MAX_BATCHES):
        count = _relay_batch(now=now, channel_id=channel_id, grace=grace, batch=batch)
        published += count
        if count < batch:
            break
    return published


def _relay_batch(*, now: datetime, channel_id: uuid.UUID | None, grace: timedelta, batch: int) -> int:
    due = OutboxEntry.objects.filter(
        Q(published_at__isnull=True, created_at__lte=now - grace) | Q(published_at__lte=now - REPUBLISH_AFTER),
        available_at__lte=now,
        message__status=MessageStatus.QUEUED,
        channel__status=ChannelStatus.ACTIVE,
    )
    if channel_id is not None:
        due = due.filter(channel_id=channel_id)
    with transaction.atomic():
        ids = list(
            due.select_for_update(skip_locked=True, of=("self",))
            .order_by("available_at")
            .values_list("message_id", flat=True)[:batch]
        )
        OutboxEntry.objects.filter(message_id__in=ids).update(published_at=now)
        for message_id in ids:
            transaction.on_commit(functools.partial(_publish, message_id))
    return len(ids)


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
    return {"unconfirmed": unconfirmed, "requeued": requeued, "failed": failed}
