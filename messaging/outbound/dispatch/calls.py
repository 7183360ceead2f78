"""The Graph calls of a batch: the ledger rows written before them, the process's call threads, the calls and
what each came to."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.db import rows_insert_numbered
from core.http import HttpError, HttpResponse, http_post_json
from core.http.kept import kept_pool
from core.ratelimit import SendBudget
from messaging.models import AttemptOutcome, Channel, Message, SendAttempt
from messaging.outbound.dispatch.relay import DISPATCH_BATCH
from messaging.providers import errors
from messaging.providers.errors import ErrorPolicy, OutcomeKind
from messaging.providers.graph_answer import graph_answer_read
from messaging.providers.registry import adapter_for

# Concurrent Graph calls per worker process, each thread on its own keep-alive connection. At least
# DISPATCH_BATCH: every call of a batch starts at once, well within the rate guard of its grant, however slow
# Meta answers (a call that cannot start within the guard is not made).
CALL_THREADS = DISPATCH_BATCH


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


def is_channel_error(result: CallResult | None) -> bool:
    return result is not None and result.policy is not None and result.policy.kind == OutcomeKind.CHANNEL


def graph_request_for(message: Message) -> tuple[str, dict[str, Any]]:
    if not isinstance(message.content, dict):
        raise TypeError("no content")
    adapter = adapter_for(message.channel.platform)
    return adapter.graph_request(message.content, recipient=message.contact.external_id, callback_id=str(message.pk))


def attempts_start(items: list[Outgoing]) -> None:
    """The ledger rows of a batch in one INSERT, committed before any call (not inside a transaction)."""
    started_at = timezone.now()
    rows = [
        SendAttempt(
            message_id=item.message.pk,
            tenant_id=item.message.tenant_id,
            number=item.last_attempt + 1,
            started_at=started_at,
        )
        for item in items
    ]
    rows_insert_numbered(rows)
    for item, row in zip(items, rows, strict=True):
        item.attempt_id = row.pk


def _endpoint(channel: Channel) -> Endpoint:
    base = f"{settings.GATEWAY_GRAPH_BASE_URL}/{settings.GATEWAY_GRAPH_API_VERSION}/{channel.provider_id}"
    return Endpoint(base, {"Authorization": f"Bearer {channel.access_token}"})


def calls_make(items: list[Outgoing], *, valid_until: float) -> None:
    """The Graph calls of a batch, concurrently; a call not started by ``valid_until`` (monotonic) is not made."""
    endpoints = {
        channel_id: _endpoint(item.message.channel) for item in items for channel_id in [item.message.channel_id]
    }
    if len(items) == 1:
        _call_one(items[0], endpoints[items[0].message.channel_id], valid_until)
        return
    futures = [call_pool().submit(_call_one, item, endpoints[item.message.channel_id], valid_until) for item in items]
    for future in futures:
        future.result()


def _call_one(item: Outgoing, endpoint: Endpoint, valid_until: float) -> None:
    kept_pool()  # this thread's connections exist (and their setup cost is paid) before the grant is checked
    if time.monotonic() > valid_until:
        return
    item.result = graph_post(f"{endpoint.base_url}/{item.path}", item.body, endpoint.headers)
    item.finished_at = timezone.now()


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def call_pool() -> ThreadPoolExecutor:
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
    kept_pool()
    everyone.wait(timeout=30)


def graph_post(url: str, body: dict[str, Any], headers: dict[str, str]) -> CallResult:
    try:
        response = http_post_json(url, payload=body, headers=headers, timeout=settings.GATEWAY_SEND_TIMEOUT)
    except HttpError as error:
        return CallResult(errors.transport_error_policy(was_sent=error.may_have_been_sent))
    return call_result(response)


def call_result(response: HttpResponse) -> CallResult:
    """Classify a Graph answer by its error code (META-SPEC §8); a 2xx is an acceptance."""
    answer = graph_answer_read(response)
    if answer.is_success:
        return CallResult(None, answer.provider_message_id, answer.http_status)
    return CallResult(
        errors.error_policy(code=answer.error_code, subcode=answer.error_subcode, http_status=answer.http_status),
        http_status=answer.http_status,
        error_code=answer.error_code,
        fbtrace_id=answer.fbtrace_id,
        retry_after_seconds=answer.retry_after_seconds,
    )
