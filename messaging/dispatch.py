"""The dispatcher: queued outbound messages out to Graph in batches, never two sends of one on purpose.

The lifecycle (the contract with ``messaging.outbound``): the API writes the message ``queued`` with its
outbox row and publishes ``outbound.send`` (one message); the relay publishes ``outbound.send_batch`` (up to
DISPATCH_BATCH messages of one channel). Both run ``messages_send``: a lease (one conditional UPDATE
``queued → sending`` … RETURNING: only one worker can win a message, and only while its channel is active and
it is due), the send budgets from core.ratelimit (the channel's per-second budget and the recipients' pair
rate, shared by every worker: one script call per channel; taken from what the lease returns, so a refused
message costs no load and no decryption), the granted messages loaded and their Graph requests built, the
attempt rows (one INSERT, committed *before* the calls, so a killed worker leaves ``pending`` attempts behind),
then the Graph calls, concurrently (one thread of the worker process per call, CALL_THREADS of them). A call
whose grant is older than half the rate guard (the other half is the call's way to Meta) when its thread gets
to it is not made (the message goes back to ``queued``). The first send on a channel that has had no
acceptance in this process for a while goes alone, so a revoked token costs one call, not a batch.
Each answer is classified by messaging.providers.errors and ends as:

* accepted: the provider id stored, statuses that raced the answer applied, the outbox row deleted (in bulk);
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
import itertools
import logging
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from celery import current_app
from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.actors import Actor
from audit.models import AuditAction
from audit.services import audit_record
from core.http import HttpError, HttpResponse, http_client, http_post_json
from core.ratelimit import CHANNEL, RECIPIENT, Grant, SendBudget, send_budget_hold, send_budgets_take
from core.tasks import Counts
from encryption import keyring
from encryption.envelope import key_id_of
from encryption.errors import DecryptionError
from messaging.inbound.statuses import parked_statuses_apply, predecessors
from messaging.models import (
    AttemptOutcome,
    Channel,
    ChannelAlert,
    ChannelStatus,
    Message,
    MessageStatus,
    OutboxEntry,
    ParkedStatus,
    Platform,
    SendAttempt,
)
from messaging.providers import errors
from messaging.providers.errors import ErrorPolicy, OutcomeKind, Scope
from messaging.providers.meta_messaging import send as messaging_send
from messaging.providers.whatsapp import send as whatsapp_send
from messaging.services import MessagingError

if TYPE_CHECKING:
    from encryption.fields import EncryptedField

logger = logging.getLogger(__name__)

SEND_TASK = "outbound.send"
SEND_BATCH_TASK = "outbound.send_batch"
DISPATCHER_ACTOR = Actor(label="dispatcher")
DISPATCH_BATCH = 32  # messages per task the relay publishes (of one channel)
# Concurrent Graph calls per worker process, each thread on its own keep-alive connection. At least
# DISPATCH_BATCH: every call of a batch starts at once, well within the rate guard of its grant, however slow
# Meta answers (a call that cannot start within the guard is not made).
CALL_THREADS = DISPATCH_BATCH
GRANT_VALID_MIN_MS = 50  # a call starts within half the rate guard of its grant, or this long (a guard of 0 included)
PROBE_AFTER_SECONDS = 30.0  # a channel with no acceptance in this process for this long: its first send goes alone
COUNTDOWN_MAX_SECONDS = 10.0  # a longer wait is left to the relay (rows polled by beat, never long ETAs)
COUNTDOWN_JITTER_SECONDS = 0.3  # the least spread of messages a full second refused over the next ones
THROTTLE_JITTER = 0.2  # a throttle delay is stretched by up to this fraction, so held sends do not all return at once
RELAY_GRACE = timedelta(seconds=5)  # a new row is published on commit by the API; the relay is the fallback
REPUBLISH_AFTER = timedelta(seconds=60)  # published this long ago and still queued: the publish was lost
RELAY_BATCH = 500
RELAY_MAX_BATCHES = 20
RELAY_AHEAD_SECONDS = 3  # at most this many seconds of a channel's rate published and unsent (see outbox_relay)
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


@dataclass(slots=True)
class Outgoing:
    """One leased message on its way out: its Graph request, its budget, then its attempt and what came back
    (``result`` None: the call was never made, its grant having gone stale)."""

    message: Message
    path: str
    body: dict[str, Any]
    budget: SendBudget
    last_attempt: int = 0  # the number of the message's last attempt row (0: none yet)
    attempt_id: int | None = None
    result: CallResult | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a channel's calls go, resolved once per batch (the token is opened once, in the task's thread)."""

    base_url: str
    headers: dict[str, str]


def message_send(*, message_id: uuid.UUID) -> str:
    """One try at sending one message (the API's publish); returns what happened (for logs and tests)."""
    outcomes = messages_send(message_ids=[message_id])
    return next(iter(outcomes), "missing")


def messages_send(*, message_ids: Sequence[uuid.UUID]) -> Counter[str]:
    """One try at sending each of these messages, with a handful of queries for the whole batch (see the module
    docstring). Errors, throttles and unknown outcomes go through the same per-message paths as ever."""
    now = timezone.now()
    ids = list(dict.fromkeys(message_ids))
    leased = messages_lease(message_ids=ids, now=now)
    outcomes = _not_leased(set(ids) - set(leased), now)
    if not leased:
        return outcomes
    if len(leased) > 1:
        _call_pool()  # made (and warmed up) before any grant is taken
    granted, grants_taken_at = _budgets_take(_lease_shells(leased), outcomes)
    tickets = {ticket.message.pk: ticket for ticket in granted}
    outgoing: list[Outgoing] = []
    for message in _leased_messages(list(tickets)):
        ticket = tickets[message.pk]
        try:
            path, body = _graph_request(message)
        except (ValueError, KeyError, TypeError, DecryptionError):  # DecryptionError: content expired or shredded
            message_fail(message, code=None, title="The stored send request cannot be turned into a Graph call")
            outcomes["failed"] += 1
            continue
        outgoing.append(Outgoing(message, path, body, ticket.budget, last_attempt=ticket.last_attempt))
    valid_until = grants_taken_at + max(settings.GATEWAY_SEND_RATE_GUARD_MS / 2, GRANT_VALID_MIN_MS) / 1000
    probes, rest = _probes_split(outgoing)
    if probes:
        outcomes.update(_send_round(probes, valid_until=valid_until))
        paused = {item.message.channel_id for item in probes if _is_channel_error(item.result)}
        for item in [item for item in rest if item.message.channel_id in paused]:
            message_hold(item.message)  # the channel is paused: no call, nothing counted
            outcomes["held"] += 1
        rest = [item for item in rest if item.message.channel_id not in paused]
    outcomes.update(_send_round(rest, valid_until=valid_until))
    return +outcomes


@dataclass(frozen=True, slots=True)
class Leased:
    """What the lease returns of one message: enough to take its budgets without loading it."""

    last_attempt: int  # the number of its last attempt row (0: none yet)
    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    contact_id: uuid.UUID
    message_type: str


@dataclass(frozen=True, slots=True)
class Ticket:
    """A leased message (only the leased columns and its channel are loaded) and the budget its send takes."""

    message: Message
    budget: SendBudget
    last_attempt: int


def _lease_shells(leased: dict[uuid.UUID, Leased]) -> list[Ticket]:
    """The leased messages as unloaded shells with their channels (one query), each with its budget."""
    channels = Channel.objects.in_bulk({row.channel_id for row in leased.values()})
    tickets = []
    for message_id, row in leased.items():
        message = Message(
            pk=message_id,
            tenant_id=row.tenant_id,
            channel=channels[row.channel_id],
            contact_id=row.contact_id,
            message_type=row.message_type,
        )
        tickets.append(Ticket(message, send_budget_for(message), row.last_attempt))
    return tickets


def _probes_split(outgoing: list[Outgoing]) -> tuple[list[Outgoing], list[Outgoing]]:
    """One send per channel that has more than one in the batch and no recent acceptance in this process."""
    moment = time.monotonic()
    counts = Counter(item.message.channel_id for item in outgoing)
    probes: dict[uuid.UUID, Outgoing] = {}
    for item in outgoing:
        channel_id = item.message.channel_id
        recent = moment - _channels_accepted.get(channel_id, -PROBE_AFTER_SECONDS) < PROBE_AFTER_SECONDS
        if counts[channel_id] > 1 and not recent and channel_id not in probes:
            probes[channel_id] = item
    chosen = {id(item) for item in probes.values()}
    return list(probes.values()), [item for item in outgoing if id(item) not in chosen]


_channels_accepted: dict[uuid.UUID, float] = {}  # channel id -> monotonic time of its last acceptance here


def _is_channel_error(result: CallResult | None) -> bool:
    return result is not None and result.policy is not None and result.policy.kind == OutcomeKind.CHANNEL


def _send_round(outgoing: list[Outgoing], *, valid_until: float) -> Counter[str]:
    """Attempt rows, calls and outcomes for these leased messages, whose budgets were granted."""
    outcomes: Counter[str] = Counter()
    if not outgoing:
        return outcomes
    attempts_start(outgoing)  # committed before any call: a killed worker leaves them ``pending``
    _calls_make(outgoing, valid_until=valid_until)
    stale = [item for item in outgoing if item.result is None]
    if stale:  # no call was made: give the messages back (their grants are lost, which only slows the channel)
        SendAttempt.objects.filter(pk__in=[item.attempt_id for item in stale]).delete()
        delay = random.uniform(0, COUNTDOWN_JITTER_SECONDS)  # noqa: S311 - jitter, not security
        _requeue_batch([item.message for item in stale], delay_seconds=delay)
        outcomes["stale_grant"] += len(stale)
    outcomes.update(outcomes_apply([item for item in outgoing if item.result is not None]))
    return outcomes


def messages_lease(*, message_ids: Sequence[uuid.UUID], now: datetime) -> dict[uuid.UUID, Leased]:
    """``queued → sending`` for one worker only, for every message that is due on an active channel; returns
    the ids this call leased, each with the number of its last attempt (0 for none) and the columns its budgets
    need. One ``UPDATE … RETURNING``.
    The condition is on the message's own columns (the channel's status through ``channel_id IN``, no join),
    so PostgreSQL re-checks it on a row a concurrent worker just changed and the loser matches nothing."""
    if not message_ids:
        return {}
    lease = max(
        settings.GATEWAY_SEND_LEASE_SECONDS,
        settings.GATEWAY_SEND_TIMEOUT + settings.GATEWAY_HTTP_CONNECT_TIMEOUT + LEASE_MARGIN_SECONDS,
    )
    connection = connections[router.db_for_write(Message)]
    quote = connection.ops.quote_name
    message_table, channel_table, attempt_table = (
        quote(model._meta.db_table) for model in (Message, Channel, SendAttempt)
    )
    status, pk, next_attempt_at, lease_expires_at, channel, tenant, contact, message_type = (
        _column(Message, name, connection)
        for name in (
            "status",
            "id",
            "next_attempt_at",
            "lease_expires_at",
            "channel",
            "tenant",
            "contact",
            "message_type",
        )
    )
    number, attempt_message = (_column(SendAttempt, name, connection) for name in ("number", "message"))
    sql = (  # quoted names from the models' metadata; every value is a parameter
        f"UPDATE {message_table} SET {status} = %s, {lease_expires_at} = %s"  # noqa: S608
        f" WHERE {pk} IN ({', '.join(['%s'] * len(message_ids))}) AND {status} = %s"
        f" AND ({next_attempt_at} IS NULL OR {next_attempt_at} <= %s)"
        f" AND {channel} IN (SELECT {_column(Channel, 'id', connection)} FROM {channel_table}"
        f" WHERE {_column(Channel, 'status', connection)} = %s)"
        f" RETURNING {pk}, (SELECT COALESCE(MAX({number}), 0) FROM {attempt_table}"
        f" WHERE {attempt_table}.{attempt_message} = {message_table}.{pk}), {tenant}, {channel}, {contact},"
        f" {message_type}"
    )
    moment = Message._meta.get_field("lease_expires_at")
    pk_field = Message._meta.get_field("id")
    params = [
        MessageStatus.SENDING.value,
        moment.get_db_prep_value(now + timedelta(seconds=lease), connection),
        *(pk_field.get_db_prep_value(message_id, connection) for message_id in message_ids),
        MessageStatus.QUEUED.value,
        moment.get_db_prep_value(now, connection),
        ChannelStatus.ACTIVE.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            _uuid(value): Leased(int(last), _uuid(tenant_id), _uuid(channel_id), _uuid(contact_id), str(kind))
            for value, last, tenant_id, channel_id, contact_id, kind in cursor.fetchall()
        }


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _rows_update(
    model: type[models.Model],
    pks: Sequence[object],
    *,
    per_row: dict[str, Sequence[object]] | None = None,
    same: dict[str, object] | None = None,
    extra_sql: str = "",
    extra_params: Sequence[object] = (),
) -> int:
    """One UPDATE for many rows: ``per_row`` columns get each row's own value (``CASE pk WHEN …``), ``same``
    columns one value; ``extra_sql`` adds SET items (SQL with %s for ``extra_params``). Values are
    prepared by their fields, as the ORM would (sealed values stay sealed)."""
    if not pks:
        return 0
    connection = connections[router.db_for_write(model)]
    pk_name = model._meta.pk.name if model._meta.pk is not None else "id"
    pk_column = _column(model, pk_name, connection)
    keys = [_field(model, pk_name).get_db_prep_value(value, connection) for value in pks]
    sets: list[str] = []
    params: list[Any] = []
    for name, values in (per_row or {}).items():
        field = _field(model, name)
        whens = " ".join(["WHEN %s THEN %s"] * len(keys))
        sets.append(f"{_column(model, name, connection)} = CASE {pk_column} {whens} END")
        for key, value in zip(keys, values, strict=True):
            params += [key, field.get_db_prep_save(value, connection)]
    for name, value in (same or {}).items():
        sets.append(f"{_column(model, name, connection)} = %s")
        params.append(_field(model, name).get_db_prep_save(value, connection))
    if extra_sql:
        sets.append(extra_sql)
        params += list(extra_params)
    sql = (  # quoted names from the model's metadata; every value is a parameter
        f"UPDATE {connection.ops.quote_name(model._meta.db_table)} SET {', '.join(sets)}"  # noqa: S608
        f" WHERE {pk_column} IN ({', '.join(['%s'] * len(keys))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *keys])
        return int(cursor.rowcount)


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{model._meta.label}.{name} is not a concrete column")
    return field


def _column(model: type[models.Model], name: str, connection: BaseDatabaseWrapper) -> str:
    return str(connection.ops.quote_name(str(_field(model, name).column)))


def _not_leased(message_ids: set[uuid.UUID], now: datetime) -> Counter[str]:
    """Why there was nothing to do. A held or early message gets its outbox row back into the relay's view."""
    outcomes: Counter[str] = Counter()
    if not message_ids:
        return outcomes
    rows = list(Message.objects.filter(pk__in=message_ids).values_list("pk", "status", "channel__status"))
    outcomes["missing"] = len(message_ids) - len(rows)
    waiting = [pk for pk, status, _ in rows if status == MessageStatus.QUEUED]
    if waiting:
        OutboxEntry.objects.filter(message_id__in=waiting).update(published_at=None)
    for _, status, channel_status in rows:
        if status != MessageStatus.QUEUED:
            outcomes["not_queued"] += 1
        elif channel_status != ChannelStatus.ACTIVE:
            outcomes["held"] += 1
        else:
            outcomes["not_due"] += 1
    return +outcomes


def _leased_messages(message_ids: list[uuid.UUID]) -> list[Message]:
    """The leased messages with their contacts; each channel loaded once (its token is opened once), and the
    keys of their sealed values (a subject key per contact) in one query."""
    messages = list(Message.objects.select_related("contact", "channel").filter(pk__in=message_ids))
    channels: dict[uuid.UUID, Channel] = {}
    for message in messages:
        message.channel = channels.setdefault(message.channel_id, message.channel)
    sealed = [message.contact.__dict__.get("external_id") for message in messages]
    sealed += [message.__dict__.get("content") for message in messages]
    keyring.ciphers_prefetch({key_id_of(value) for value in sealed if isinstance(value, bytes) and _is_envelope(value)})
    return messages


def _is_envelope(value: bytes) -> bool:
    try:
        key_id_of(value)
    except DecryptionError:
        return False
    return True


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


def _budgets_take(tickets: list[Ticket], outcomes: Counter[str]) -> tuple[list[Ticket], float]:
    """Each channel's budgets in one script call, before anything is loaded (core.ratelimit's guard must cover
    the time from a grant to Meta receiving the request). Refused messages go back to ``queued`` without
    using their retry budget: one group per channel, at its place in the channel's schedule; a recipient's
    refusal on its own clock. Returns the granted tickets and the monotonic time before the grants."""
    taken_at = time.monotonic()
    by_channel: dict[uuid.UUID, list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        by_channel[ticket.message.channel_id].append(ticket)
    granted: list[Ticket] = []
    for items in by_channel.values():
        grants = send_budgets_take([ticket.budget for ticket in items])
        channel_refused: list[tuple[Ticket, Grant]] = []
        for ticket, grant in zip(items, grants, strict=True):
            if grant.is_granted:
                granted.append(ticket)
            elif grant.refused_by == CHANNEL:
                channel_refused.append((ticket, grant))
            else:
                message_requeue(ticket.message, delay_seconds=_refusal_delay(grant), counts_as_attempt=False)
                outcomes[f"throttled_by_{grant.refused_by}"] += 1
        if channel_refused:
            delay = _refusal_delay(channel_refused[0][1])
            _requeue_batch([ticket.message for ticket, _ in channel_refused], delay_seconds=delay)
            outcomes[f"throttled_by_{CHANNEL}"] += len(channel_refused)
    return granted, taken_at


def _refusal_delay(grant: Grant) -> float:
    if grant.is_scheduled:  # the channel's schedule already spread the backlog at its rate
        return grant.wait_seconds
    spread = max(grant.backlog_seconds, COUNTDOWN_JITTER_SECONDS)
    return grant.wait_seconds + random.uniform(0, spread)  # noqa: S311 - jitter, not security


def _graph_request(message: Message) -> tuple[str, dict[str, Any]]:
    if not isinstance(message.content, dict):
        raise TypeError("no content")
    build = GRAPH_REQUESTS[message.channel.platform]
    return build(message.content, recipient=message.contact.external_id, callback_id=str(message.pk))


def attempts_start(items: list[Outgoing]) -> None:
    """The ledger rows of a batch in one INSERT, committed before any call (not inside a transaction)."""
    started_at = timezone.now()
    rows = SendAttempt.objects.bulk_create(
        [
            SendAttempt(
                message_id=item.message.pk,
                tenant_id=item.message.tenant_id,
                number=item.last_attempt + 1,
                started_at=started_at,
            )
            for item in items
        ]
    )
    for item, row in zip(items, rows, strict=True):
        item.attempt_id = row.pk


def _endpoint(channel: Channel) -> Endpoint:
    base = f"{settings.GATEWAY_GRAPH_BASE_URL}/{settings.GATEWAY_GRAPH_API_VERSION}/{channel.provider_id}"
    return Endpoint(base, {"Authorization": f"Bearer {channel.access_token}"})


def _calls_make(items: list[Outgoing], *, valid_until: float) -> None:
    """The Graph calls of a batch, concurrently; a call not started by ``valid_until`` (monotonic) is not made."""
    endpoints = {
        channel_id: _endpoint(item.message.channel) for item in items for channel_id in [item.message.channel_id]
    }
    if len(items) == 1:
        _call_one(items[0], endpoints[items[0].message.channel_id], valid_until)
        return
    futures = [_call_pool().submit(_call_one, item, endpoints[item.message.channel_id], valid_until) for item in items]
    for future in futures:
        future.result()


def _call_one(item: Outgoing, endpoint: Endpoint, valid_until: float) -> None:
    http_client()  # this thread's client exists (and its setup cost is paid) before the grant is checked
    if time.monotonic() > valid_until:
        return
    item.result = graph_post(f"{endpoint.base_url}/{item.path}", item.body, endpoint.headers)
    item.finished_at = timezone.now()


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _call_pool() -> ThreadPoolExecutor:
    """This process's call threads, made on first use (and again in a forked child: threads do not fork), each
    with its HTTP client made at once: that setup must not eat into the first batch's grants."""
    global _pool  # noqa: PLW0603 - one pool per process
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            pool = ThreadPoolExecutor(max_workers=CALL_THREADS, thread_name_prefix="graph-send")
            everyone = threading.Barrier(CALL_THREADS)  # each warm-up task holds its thread until all have one
            warmups = [pool.submit(_thread_warm_up, everyone) for _ in range(CALL_THREADS)]
            for warmup in warmups:
                warmup.result()
            _pool = (os.getpid(), pool)
        return _pool[1]


def _thread_warm_up(everyone: threading.Barrier) -> None:
    http_client()
    everyone.wait(timeout=30)


def graph_post(url: str, body: dict[str, Any], headers: dict[str, str]) -> CallResult:
    try:
        response = http_post_json(url, payload=body, headers=headers, timeout=settings.GATEWAY_SEND_TIMEOUT)
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


def outcomes_apply(items: list[Outgoing]) -> Counter[str]:
    """Every call's attempt row and the acceptances in one transaction (a handful of statements for the batch);
    the rest (errors, throttles, unknown outcomes) one message at a time."""
    outcomes: Counter[str] = Counter()
    accepted = [item for item in items if item.result is not None and item.result.policy is None]
    with transaction.atomic():
        attempts_finish(items)
        messages_accept([(item.message, _result(item).provider_message_id) for item in accepted])
    if accepted:
        _parked_statuses_apply([item.message for item in accepted])
        outcomes["accepted"] = len(accepted)
        seen_at = time.monotonic()
        _channels_accepted.update({item.message.channel_id: seen_at for item in accepted})
    for item in items:
        if item.result is not None and item.result.policy is not None:
            outcomes[outcome_apply(item.message, item.result, item.budget)] += 1
    return outcomes


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
        _rows_update(
            SendAttempt,
            [item.attempt_id for item in group],
            per_row={"finished_at": [item.finished_at for item in group]},
            same={
                "outcome": outcome,
                "http_status": http_status,
                "error_code": error_code,
                "error_title": title,
                "fbtrace_id": fbtrace_id,
            },
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


def messages_accept(accepted: Sequence[tuple[Message, str | None]]) -> None:
    """Store each provider id (sealed and blind-indexed by the fields themselves, as ``save`` would) even when a
    status webhook already moved the message further, and move to ``accepted`` the messages nothing moved yet;
    their outbox rows go. Two statements for the whole batch."""
    if not accepted:
        return
    id_field = cast("EncryptedField", Message._meta.get_field("provider_message_id"))
    index_field = Message._meta.get_field("provider_message_index")
    with_ids: list[Message] = []
    for message, provider_message_id in accepted:
        if provider_message_id:
            message.provider_message_id = provider_message_id
            with_ids.append(message)
    sealed = [id_field.pre_save(message, False) for message in with_ids]
    indexes = [index_field.pre_save(message, False) for message in with_ids]
    allowed = predecessors(MessageStatus.ACCEPTED)
    connection = connections[router.db_for_write(Message)]
    status = _column(Message, "status", connection)
    moves = f"{status} = CASE WHEN {status} IN ({', '.join(['%s'] * len(allowed))}) THEN %s ELSE {status} END"
    ids = [message.pk for message, _ in accepted]
    with transaction.atomic():
        if with_ids:
            _rows_update(
                Message,
                [message.pk for message in with_ids],
                per_row={"provider_message_id": sealed, "provider_message_index": indexes},
            )
        _rows_update(
            Message,
            ids,
            same={"lease_expires_at": None, "next_attempt_at": None, "updated_at": timezone.now()},
            extra_sql=moves,
            extra_params=[*allowed, MessageStatus.ACCEPTED.value],
        )
        OutboxEntry.objects.filter(message_id__in=ids).delete()


def message_accept(message: Message, *, provider_message_id: str | None) -> None:
    """``messages_accept`` for one message, then the statuses that raced the answer."""
    messages_accept([(message, provider_message_id)])
    _parked_statuses_apply([message])


def _parked_statuses_apply(messages: list[Message]) -> None:
    """Statuses parked before these provider ids were stored, on the channels that have any parked at all (a
    status carrying our id in its callback data finds the message without parking, so most have none)."""
    with_ids = [message for message in messages if message.provider_message_id]
    channels = set(
        ParkedStatus.objects.filter(channel_id__in={message.channel_id for message in with_ids})
        .values_list("channel_id", flat=True)
        .distinct()
    )
    if channels:
        parked_statuses_apply(messages=[message for message in with_ids if message.channel_id in channels])


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


def _requeue_batch(messages: Sequence[Message], *, delay_seconds: float) -> None:
    """``message_requeue`` for a group of leased messages with one delay (throttled, or never called: no
    retry budget used), republished as one batch. A few statements for the group."""
    if not messages:
        return
    now = timezone.now()
    due_at = now + timedelta(seconds=delay_seconds)
    is_short = delay_seconds <= COUNTDOWN_MAX_SECONDS
    ids = [message.pk for message in messages]
    with transaction.atomic():
        moved = Message.objects.filter(pk__in=ids, status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED, next_attempt_at=due_at, lease_expires_at=None
        )
        if not moved:
            return
        published_at = now if is_short else None
        updated = OutboxEntry.objects.filter(message_id__in=ids).update(available_at=due_at, published_at=published_at)
        if updated < len(ids):  # a row gone missing: the relay must still see the message
            present = set(OutboxEntry.objects.filter(message_id__in=ids).values_list("message_id", flat=True))
            for message in messages:
                if message.pk not in present:
                    _outbox_set(message, available_at=due_at, published_at=published_at)
        if is_short:
            transaction.on_commit(functools.partial(_publish_batch, ids, countdown=delay_seconds))


def _publish(message_id: uuid.UUID, *, countdown: float = 0.0) -> None:
    _send_task(SEND_TASK, [str(message_id)], countdown)


def _publish_batch(message_ids: Sequence[uuid.UUID], *, countdown: float = 0.0) -> None:
    _send_task(SEND_BATCH_TASK, [[str(message_id) for message_id in message_ids]], countdown)


def _send_task(name: str, args: list[Any], countdown: float) -> None:
    """Publish after commit; a broker that refuses is logged, not raised: the rows are committed with
    ``published_at`` set, so the relay publishes them again once REPUBLISH_AFTER has passed."""
    try:
        current_app.send_task(name, args=args, countdown=countdown or None)
    except Exception:
        logger.warning("publish failed, left to the outbox relay", extra={"task": name}, exc_info=True)


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
    message is still queued). Locked rows are skipped, so two relays never publish the same batch. A channel
    gets no more than RELAY_AHEAD_SECONDS of its rate published and unsent at a time: a backlog is fed to the
    workers as fast as the channel may send, not all at once (each send refused for the channel's rate costs a
    worker a lease and a requeue); the rest waits for the next run."""
    published = 0
    full: set[uuid.UUID] = set()
    for _ in range(RELAY_MAX_BATCHES):
        selected, count, filled = _relay_batch(now=now, channel_id=channel_id, grace=grace, batch=batch, full=full)
        published += count
        full |= filled
        if selected < batch:
            break
    return published


def _relay_batch(
    *, now: datetime, channel_id: uuid.UUID | None, grace: timedelta, batch: int, full: set[uuid.UUID]
) -> tuple[int, int, set[uuid.UUID]]:
    """One batch of due rows, of channels with room: (rows selected, rows published, channels now full)."""
    due = OutboxEntry.objects.filter(
        Q(published_at__isnull=True, created_at__lte=now - grace) | Q(published_at__lte=now - REPUBLISH_AFTER),
        available_at__lte=now,
        message__status=MessageStatus.QUEUED,
        channel__status=ChannelStatus.ACTIVE,
    ).exclude(channel_id__in=full)
    if channel_id is not None:
        due = due.filter(channel_id=channel_id)
    with transaction.atomic():
        rows = list(
            due.select_for_update(skip_locked=True, of=("self",))
            .order_by("available_at")
            .values_list("message_id", "channel_id")[:batch]
        )
        room = _channels_room({channel for _, channel in rows}, now=now)
        taken = [(message_id, channel) for message_id, channel in rows if _take_room(room, channel)]
        OutboxEntry.objects.filter(message_id__in=[message_id for message_id, _ in taken]).update(published_at=now)
        for chunk in _batches(taken):
            transaction.on_commit(functools.partial(_publish_batch, chunk))
    return len(rows), len(taken), {channel for channel, left in room.items() if left <= 0}


def _channels_room(channel_ids: set[uuid.UUID], *, now: datetime) -> dict[uuid.UUID, int]:
    """How many more sends each channel may have published and unsent: RELAY_AHEAD_SECONDS of its rate, less
    its rows published recently (waiting, being sent, or given back with a countdown)."""
    channels = Channel.objects.in_bulk(channel_ids)
    in_flight = dict(
        OutboxEntry.objects.filter(channel_id__in=channel_ids, published_at__gt=now - REPUBLISH_AFTER)
        .values("channel_id")
        .annotate(rows=Count("pk"))
        .values_list("channel_id", "rows")
    )
    return {pk: channel.send_rate * RELAY_AHEAD_SECONDS - in_flight.get(pk, 0) for pk, channel in channels.items()}


def _take_room(room: dict[uuid.UUID, int], channel_id: uuid.UUID) -> bool:
    if room.get(channel_id, 0) <= 0:
        return False
    room[channel_id] -= 1
    return True


def _batches(rows: list[tuple[uuid.UUID, uuid.UUID]]) -> list[list[uuid.UUID]]:
    """Tasks of up to DISPATCH_BATCH messages of one channel each, channels taking turns (in due order within
    each), so a long backlog on one channel does not stand in front of the others."""
    by_channel: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for message_id, channel_id in rows:
        by_channel[channel_id].append(message_id)
    chunks = [
        [ids[start : start + DISPATCH_BATCH] for start in range(0, len(ids), DISPATCH_BATCH)]
        for ids in by_channel.values()
    ]
    return [chunk for turn in itertools.zip_longest(*chunks) for chunk in turn if chunk]


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
