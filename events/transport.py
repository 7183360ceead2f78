"""One POST of a signed event to an endpoint, through core's pinned client, and what came of it.

The URL is checked (and its host resolved, once) before every batch of attempts to an endpoint, since DNS answers
change; each request connects to the address checked. Nothing here raises for a failed attempt: an answer, a
timeout, a refused address all become an ``Outcome`` the delivery log records. The answer kept is short and never
our own body.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings

from core.addresses import AddressPolicy, AddressRefusedError, PinnedTarget, target_resolve
from core.http import HttpConnectionError, HttpError, HttpTimeoutError
from core.http.pinned import http_post_pinned

KEEP_BYTES = 4096
EXCERPT_CHARS = 512
ECHO_PROBE_BYTES = 64
ECHOED = "(the answer repeats the event's body; not kept)"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str  # "" for an answer, else timeout, connection, refused_address, ...
    latency_ms: int
    excerpt: str
    retry_after: str | None

    @property
    def is_success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300  # noqa: PLR2004


def endpoint_url_check(url: str) -> str | None:
    """Why ``url`` may not receive events (refused_url, refused_scheme, refused_address, unresolved), or None.
    For the API's and the admin's validation; deliveries check again at each attempt."""
    try:
        target_resolve(url, address_policy())
    except AddressRefusedError as refused:
        return refused.reason
    return None


def event_target(url: str) -> PinnedTarget | Outcome:
    """The checked address to POST ``url``'s events to now, or the refused attempt's outcome (refused_url,
    refused_scheme, refused_address, unresolved): once per batch of deliveries to one endpoint."""
    started = time.monotonic()
    try:
        return target_resolve(url, address_policy())
    except AddressRefusedError as refused:
        return Outcome(None, refused.reason, _since(started), "", None)


def event_post(target: PinnedTarget, *, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST one signed event to the address ``event_target`` checked (keep-alive: the worker's one pinned client)."""
    started = time.monotonic()
    try:
        response = http_post_pinned(
            target,
            content=body,
            headers={"Content-Type": CONTENT_TYPE, **headers},
            connect_timeout=settings.GATEWAY_EVENTS_CONNECT_TIMEOUT,
            read_timeout=settings.GATEWAY_EVENTS_READ_TIMEOUT,
            keep_bytes=KEEP_BYTES,
        )
    except HttpError as error:
        return Outcome(None, _error_word(error), _since(started), "", None)
    excerpt = _excerpt(response.body, body)
    return Outcome(response.status, "", _since(started), excerpt, response.headers.get("retry-after"))


@cache
def _policy(allow_http: bool, networks: tuple[str, ...]) -> AddressPolicy:
    return AddressPolicy.of(allow_http=allow_http, allowed_networks=networks)


def address_policy() -> AddressPolicy:
    """The settings' policy (read each time, so a test's settings apply; parsed once per value)."""
    return _policy(bool(settings.GATEWAY_EVENTS_ALLOW_HTTP), tuple(settings.GATEWAY_EVENTS_ALLOWED_NETWORKS))


def _error_word(error: HttpError) -> str:
    if isinstance(error, HttpTimeoutError):
        return "timeout"
    if isinstance(error, HttpConnectionError):
        return "connection"
    return "invalid_url"


def _excerpt(answer: bytes, sent: bytes) -> str:
    if answer and sent[:ECHO_PROBE_BYTES] in answer:
        return ECHOED
    text = answer.decode("utf-8", errors="replace")
    return "".join(character if character.isprintable() else " " for character in text)[:EXCERPT_CHARS]


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
