"""The outbound HTTP clients of the gateway: media downloads and Graph API calls (event deliveries to the
tenants' own URLs go through core.http.pinned, to the one address core.addresses checked).

GET and DELETE go through one keep-alive ``httpx.Client`` per thread (made again after a fork: a pool must never
be shared by two processes); a JSON POST (a send: the hot path) through this thread's kept ``http.client``
connections (core.http.kept), whose layers cost under half of httpx's. Both: explicit timeouts from settings, no
redirects (a caller that follows one checks the new URL itself), and a byte cap enforced while the body
streams, so a huge body is refused without being held.

Errors name the method and the host only: never a path or query (a media URL carries ids that are
content), never a header (a bearer token).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from django.conf import settings

from core.http.base import (
    CHUNK_BYTES,
    DEFAULT_MAX_BYTES,
    DEFAULT_PORTS,
    USER_AGENT,
    HttpConnectionError,
    HttpError,
    HttpInvalidUrlError,
    HttpResponse,
    HttpTimeoutError,
    HttpTooLargeError,
    ssl_context_new,
)
from core.http.kept import Exchange, Route, kept_close, kept_post

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_MAX_BYTES",
    "USER_AGENT",
    "HttpConnectionError",
    "HttpError",
    "HttpInvalidUrlError",
    "HttpResponse",
    "HttpTimeoutError",
    "HttpTooLargeError",
    "UrlOrigin",
    "http_client",
    "http_client_close",
    "http_delete",
    "http_get",
    "http_post_json",
    "ssl_context_new",
    "url_connect_host",
    "url_host",
    "url_origin",
    "url_request_path",
]

_state = threading.local()  # (pid, client) per thread: httpx clients are thread-safe, but cheap to keep apart


def http_client() -> httpx.Client:
    """This process's client, created on first use (and again in a forked child)."""
    current = getattr(_state, "client", None)
    if current is not None and current[0] == os.getpid():
        client: httpx.Client = current[1]
        return client
    client = httpx.Client(
        follow_redirects=False,
        timeout=_timeout(None),
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30),
    )
    _state.client = (os.getpid(), client)
    return client


def http_client_close() -> None:
    """Close this thread's clients and kept connections (tests; a worker shutting down)."""
    kept_close()
    current = getattr(_state, "client", None)
    if current is not None:
        _state.client = None
        if current[0] == os.getpid():
            current[1].close()


def http_get(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline_seconds: float | None = None,
) -> HttpResponse:
    """GET ``url``. ``timeout`` replaces the read timeout; ``deadline_seconds`` bounds the whole transfer
    (a slow drip of bytes would otherwise never trip a per-read timeout)."""
    return _send(
        "GET", url, headers=headers, content=None, timeout=timeout, max_bytes=max_bytes, deadline=deadline_seconds
    )


def http_post_json(
    url: str,
    *,
    payload: object,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> HttpResponse:
    """POST ``payload`` as JSON over this thread's kept connection to the URL's host; ``timeout`` replaces the read
    timeout. The caller decides what a status means; only transport failures raise. A kept connection found
    dropped as the request went out fails as may-have-been-sent: a send is never made twice here."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    merged = {"Content-Type": "application/json", **(headers or {})}
    where = f"POST to {url_host(url) or 'an unparsable URL'}"
    origin = url_origin(url)
    if origin is None:
        raise HttpInvalidUrlError(f"{where}: the URL cannot be requested")
    if _proxied(origin):  # the environment's HTTP(S)_PROXY applies: httpx goes through it, as for GET
        return _send("POST", url, headers=merged, content=body, timeout=timeout, max_bytes=max_bytes, deadline=None)
    limits = Exchange(
        connect_timeout=float(settings.GATEWAY_HTTP_CONNECT_TIMEOUT),
        read_timeout=float(timeout if timeout is not None else settings.GATEWAY_HTTP_READ_TIMEOUT),
        max_bytes=max_bytes,
    )
    return kept_post(
        Route(origin.scheme, url_connect_host(url), origin.port),
        url_request_path(url),
        content=body,
        headers=merged,
        limits=limits,
        where=where,
    )


@functools.lru_cache(maxsize=64)
def _proxied(origin: UrlOrigin) -> bool:
    """Whether the environment sends requests to ``origin`` through a proxy (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, less ``NO_PROXY``), which httpx honours and the kept connections do not. Read once per origin
    and process (reading the environment costs about 50 µs), as httpx reads it once per client."""
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(origin.scheme) or proxies.get("all")):
        return False
    bypass: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return not bypass(f"{origin.host}:{origin.port}", proxies)


def http_delete(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> HttpResponse:
    """DELETE ``url`` (its query names what to delete). Only transport failures raise."""
    return _send("DELETE", url, headers=headers, content=None, timeout=timeout, max_bytes=max_bytes, deadline=None)


@functools.lru_cache(maxsize=1024)
def url_request_path(url: str) -> str:
    """The path and query of ``url`` as a request line carries them (parsed by httpx, as the address checks are;
    the same few URLs again and again, so remembered)."""
    return httpx.URL(url).raw_path.decode("ascii")


@functools.lru_cache(maxsize=1024)
def url_connect_host(url: str) -> str:
    """The host name of ``url`` as the client connects to it (IDNA-encoded ASCII; '' when it does not parse;
    remembered, as ``url_request_path``)."""
    try:
        return httpx.URL(url).raw_host.decode("ascii")
    except httpx.InvalidURL:
        return ""


@dataclass(frozen=True)
class UrlOrigin:
    scheme: str
    host: str
    port: int


@functools.lru_cache(maxsize=1024)
def url_origin(url: str) -> UrlOrigin | None:
    """Scheme, host and port exactly as this client would connect (parsed by httpx itself, so an allow-list
    check cannot be fooled by a parser difference); None when unparsable or carrying credentials. Remembered (a
    pure function of the text; an event endpoint's URL is parsed before each batch)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return None
    if parsed.userinfo or not parsed.host or parsed.scheme not in DEFAULT_PORTS:
        return None
    return UrlOrigin(parsed.scheme, parsed.host.lower().rstrip("."), parsed.port or DEFAULT_PORTS[parsed.scheme])


def url_host(url: str) -> str:
    """The host of ``url``, for messages ('' when it does not parse)."""
    try:
        return httpx.URL(url).host
    except httpx.InvalidURL:
        return ""


def _timeout(read: float | None) -> httpx.Timeout:
    connect = float(settings.GATEWAY_HTTP_CONNECT_TIMEOUT)
    read_seconds = float(read if read is not None else settings.GATEWAY_HTTP_READ_TIMEOUT)
    return httpx.Timeout(connect=connect, read=read_seconds, write=read_seconds, pool=connect)


def _send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None,
    content: bytes | None,
    timeout: float | None,
    max_bytes: int,
    deadline: float | None,
) -> HttpResponse:
    where = f"{method} to {url_host(url) or 'an unparsable URL'}"
    with _translated_errors(where):
        request = http_client().build_request(
            method, url, headers=dict(headers or {}), content=content, timeout=_timeout(timeout)
        )
        response = http_client().send(request, stream=True)
        try:
            body = _read_capped(response, max_bytes=max_bytes, deadline=deadline, where=where)
        finally:
            response.close()
    return HttpResponse(status=response.status_code, headers=dict(response.headers.items()), body=body)


def _read_capped(response: httpx.Response, *, max_bytes: int, deadline: float | None, where: str) -> bytes:
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > max_bytes:
        raise HttpTooLargeError(f"{where}: the body announces {announced} bytes, more than the {max_bytes} allowed")
    ends_at = None if deadline is None else time.monotonic() + deadline
    body = bytearray()
    for chunk in response.iter_bytes(CHUNK_BYTES):
        body += chunk
        if len(body) > max_bytes:
            raise HttpTooLargeError(f"{where}: the body is larger than the {max_bytes} bytes allowed")
        if ends_at is not None and time.monotonic() > ends_at:
            late = HttpTimeoutError(f"{where}: the transfer took longer than {deadline} seconds")
            late.may_have_been_sent = True
            raise late
    return bytes(body)


@contextmanager
def _translated_errors(where: str) -> Iterator[None]:
    """httpx errors become ours; ``from None`` drops the original, whose text may carry the full URL."""
    try:
        yield
    except httpx.TimeoutException as error:
        translated: HttpError = HttpTimeoutError(f"{where} timed out")
        translated.may_have_been_sent = not isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout))
        raise translated from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise HttpInvalidUrlError(f"{where}: the URL cannot be requested") from None
    except httpx.HTTPError as error:
        translated = HttpConnectionError(f"{where} failed: {type(error).__name__}")
        translated.may_have_been_sent = not isinstance(error, httpx.ConnectError)
        raise translated from None
