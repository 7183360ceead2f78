"""The top floor: one try at sending a batch of messages, from the lease to the outcomes."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.utils import timezone

from encryption.errors import DecryptionError
from messaging.models import Message, SendAttempt
from messaging.outbound.dispatch.budgets import (
    COUNTDOWN_JITTER_SECONDS,
    budgets_take,
    is_refused_recently,
    message_shells,
    probes_split,
    tickets_for,
)
from messaging.outbound.dispatch.calls import (
    Outgoing,
    attempts_start,
    call_pool,
    calls_make,
    graph_request_for,
    is_channel_error,
)
from messaging.outbound.dispatch.lease import Leased, leased_messages_load, messages_lease, messages_waiting, not_leased
from messaging.outbound.dispatch.outcomes import outcomes_apply, sends_count
from messaging.outbound.dispatch.relay import DISPATCH_BATCH
from messaging.outbound.dispatch.transitions import message_fail, message_hold, messages_requeue

Request = tuple[Message, str, dict[str, Any]]  # a loaded message, its Graph path and body

GRANT_VALID_MIN_MS = 50  # a call starts within half the rate guard of its grant, or this long (a guard of 0 included)


def message_send(*, message_id: uuid.UUID) -> str:
    """One try at sending one message (the API's publish); returns what happened (for logs and tests)."""
    outcomes = messages_send(message_ids=[message_id])
    return next(iter(outcomes), "missing")


def message_send_gathering(*, message_id: uuid.UUID) -> Counter[str]:
    """One try at sending one message (the API's publish) and, once it is leased, the messages published and
    waiting for a worker (up to a batch in all): a backlog of single publishes goes out as batches as soon as a
    worker is free, instead of one message per task while the others wait their turn in the queue."""
    return messages_send(message_ids=[message_id], gather=DISPATCH_BATCH - 1)


def messages_send(*, message_ids: Sequence[uuid.UUID], gather: int = 0) -> Counter[str]:
    """One try at sending each of these messages, with a handful of queries for the whole batch (see the module
    docstring). Errors, throttles and unknown outcomes go through the same per-message paths as ever. With
    ``gather``, up to that many messages waiting for a worker are leased along once one of these is."""
    now = timezone.now()
    ids = list(dict.fromkeys(message_ids))
    leased = messages_lease(message_ids=ids, now=now)
    outcomes = not_leased(set(ids) - set(leased), now)
    if not leased:
        return outcomes
    if gather:  # a waiting message another worker leased first is simply not in the answer
        leased |= messages_lease(message_ids=messages_waiting(now=now, limit=gather, besides=ids), now=now)
    if len(leased) > 1:
        call_pool()  # made (and warmed up) before any grant is taken
    outgoing, grants_taken_at = _granted_requests(leased, outcomes)
    valid_until = grants_taken_at + max(settings.GATEWAY_SEND_RATE_GUARD_MS / 2, GRANT_VALID_MIN_MS) / 1000
    probes, rest = probes_split(outgoing)
    if probes:
        outcomes.update(_send_round(probes, valid_until=valid_until))
        paused = {item.message.channel_id for item in probes if is_channel_error(item.result)}
        for item in [item for item in rest if item.message.channel_id in paused]:
            message_hold(item.message)  # the channel is paused: no call, nothing counted
            outcomes["held"] += 1
            sends_count([item.message], "held")
        rest = [item for item in rest if item.message.channel_id not in paused]
    outcomes.update(_send_round(rest, valid_until=valid_until))
    return +outcomes


def _granted_requests(leased: dict[uuid.UUID, Leased], outcomes: Counter[str]) -> tuple[list[Outgoing], float]:
    """The leased messages loaded and their Graph requests built, then their budgets taken (the grant as close to
    the call as can be, so it does not go stale under load); on a channel refused here a moment ago, the budgets
    first and only the granted messages loaded (a refused message then costs no load and no decryption). Returns
    the granted requests and the monotonic time before the grants."""
    cautious = {pk: row for pk, row in leased.items() if is_refused_recently(row.channel_id)}
    built = _requests_build(leased_messages_load([pk for pk in leased if pk not in cautious]), outcomes)
    candidates = {message.pk: message for message, _, _ in built.values()}
    if cautious:
        candidates.update((message.pk, message) for message in message_shells(cautious))
    ordered = [candidates[pk] for pk in leased if pk in candidates]  # the lease's order: the oldest granted first
    granted, grants_taken_at = budgets_take(tickets_for(leased, ordered), outcomes)
    if cautious:  # granted before they were loaded
        late = [ticket.message.pk for ticket in granted if ticket.message.pk in cautious]
        built.update(_requests_build(leased_messages_load(late), outcomes))
    return [
        Outgoing(*built[ticket.message.pk], ticket.budget, last_attempt=ticket.last_attempt)
        for ticket in granted
        if ticket.message.pk in built
    ], grants_taken_at


def _requests_build(messages: list[Message], outcomes: Counter[str]) -> dict[uuid.UUID, Request]:
    """Each loaded message's Graph request (its budget still to take); one that cannot be built fails now."""
    built: dict[uuid.UUID, Request] = {}
    for message in messages:
        try:
            path, body = graph_request_for(message)
        except (ValueError, KeyError, TypeError, DecryptionError):  # DecryptionError: content expired or shredded
            message_fail(message, code=None, title="The stored send request cannot be turned into a Graph call")
            outcomes["failed"] += 1
            sends_count([message], "failed")
            continue
        built[message.pk] = (message, path, body)
    return built


def _send_round(outgoing: list[Outgoing], *, valid_until: float) -> Counter[str]:
    """Attempt rows, calls and outcomes for these leased messages, whose budgets were granted."""
    outcomes: Counter[str] = Counter()
    if not outgoing:
        return outcomes
    attempts_start(outgoing)  # committed before any call: a killed worker leaves them ``pending``
    calls_make(outgoing, valid_until=valid_until)
    stale = [item for item in outgoing if item.result is None]
    if stale:  # no call was made: give the messages back (their grants are lost, which only slows the channel)
        SendAttempt.objects.filter(pk__in=[item.attempt_id for item in stale]).delete()
        delay = random.uniform(0, COUNTDOWN_JITTER_SECONDS)  # noqa: S311 - jitter, not security
        messages_requeue([item.message for item in stale], delay_seconds=delay)
        outcomes["stale_grant"] += len(stale)
        sends_count([item.message for item in stale], "stale_grant")
    outcomes.update(outcomes_apply([item for item in outgoing if item.result is not None]))
    return outcomes
