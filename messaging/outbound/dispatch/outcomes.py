"""What each answer does: attempt rows finished, acceptances stored in bulk, throttles, transient errors
(backoff), channel errors (the channel paused), unknown outcomes and failures one message at a time."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from audit.alerts.detectors.reputation import QUALITY_ERROR_CODES, meta_quality_error_observe
from core.bulk import ColumnChange, rows_update
from core.metrics import metric_increment
from core.ratelimit import CHANNEL, RECIPIENT, SendBudget, send_budget_hold
from messaging.models import Message, SendAttempt
from messaging.outbound.dispatch.budgets import acceptances_record
from messaging.outbound.dispatch.calls import CallResult, Outgoing
from messaging.outbound.dispatch.channels import channel_pause
from messaging.outbound.dispatch.transitions import (
    message_accept,
    message_fail,
    message_hold,
    message_requeue,
    message_unconfirm,
    messages_accept,
    parked_statuses_follow,
)
from messaging.providers.errors import ErrorPolicy, OutcomeKind, Scope

THROTTLE_JITTER = 0.2  # a throttle delay is stretched by up to this fraction, so held sends do not all return at once


def outcomes_apply(items: list[Outgoing]) -> Counter[str]:
    """Every call's attempt row and the acceptances in one transaction (a handful of statements for the batch);
    the rest (errors, throttles, unknown outcomes) one message at a time."""
    outcomes: Counter[str] = Counter()
    accepted = [item for item in items if item.result is not None and item.result.policy is None]
    with transaction.atomic():
        attempts_finish(items)
        messages_accept([(item.message, _result(item).provider_message_id) for item in accepted])
    if accepted:
        parked_statuses_follow([item.message for item in accepted])
        outcomes["accepted"] = len(accepted)
        acceptances_record({item.message.channel_id for item in accepted})
        sends_count([item.message for item in accepted], "accepted")
    for item in items:
        if item.result is not None and item.result.policy is not None:
            outcome = outcome_apply(item.message, item.result, item.budget)
            outcomes[outcome] += 1
            sends_count([item.message], outcome)
    return outcomes


def sends_count(messages: Iterable[Message], outcome: str) -> None:
    """The ``gateway_sends_total`` metric, by its channel's platform (loaded with the lease): one increment per
    platform, by the number of messages."""
    for platform, count in Counter(message.channel.platform for message in messages).items():
        metric_increment("gateway_sends", count, platform=platform, outcome=outcome)


def _result(item: Outgoing) -> CallResult:
    if item.result is None:
        raise ValueError("no call was made")
    return item.result


def outcome_apply(message: Message, result: CallResult, budget: SendBudget) -> str:
    """What one call that was not accepted does to its message (its attempt row is already finished)."""
    policy = result.policy
    if policy is None:
        message_accept(message, provider_message_id=result.provider_message_id)
        return "accepted"
    if result.error_code in QUALITY_ERROR_CODES:
        meta_quality_error_observe(
            tenant_id=message.tenant_id, channel_id=message.channel_id, code=result.error_code, message_id=message.pk
        )
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


def attempts_finish(items: list[Outgoing]) -> None:
    """Each attempt's own finish time and its outcome: one UPDATE per kind of answer (all acceptances share
    one)."""
    groups: dict[tuple[str, int | None, int | None, str, str], list[Outgoing]] = defaultdict(list)
    for item in items:
        if item.result is not None and item.attempt_id is not None:
            result = item.result
            title = "" if result.policy is None else result.policy.title[:200]
            groups[(result.outcome, result.http_status, result.error_code, title, result.fbtrace_id)].append(item)
    for (outcome, http_status, error_code, title, fbtrace_id), group in groups.items():
        same = {
            "outcome": outcome,
            "http_status": http_status,
            "error_code": error_code,
            "error_title": title,
            "fbtrace_id": fbtrace_id,
        }
        rows_update(
            SendAttempt,
            {item.attempt_id: {"finished_at": ColumnChange.to(item.finished_at)} for item in group},
            same={name: ColumnChange.to(value) for name, value in same.items()},
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
