"""Event deliveries' HTTP client: POSTs to the URLs tenants give, each to the one address core.addresses checked.

A lean HTTP/1.1 client on the standard library's ``http.client``, not httpx: an event delivery is one small POST,
and the general client's layers cost more CPU than the rest of the delivery together. Each thread keeps its own
connections (made again in a forked child), one per host, port and checked address, so a worker's deliveries to
an endpoint go over one keep-alive connection. A new connection goes to the address checked, never resolving the
name again, while the Host header, the TLS server name and the certificate check use the URL's own host.
Redirects are answers, never followed. Errors name the host only, as core.http's.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from core.http import (
    CHUNK_BYTES,
    USER_AGENT,
    HttpConnectionError,
    HttpResponse,
    HttpTimeoutError,
    ssl_context_new,
    url_request_path,
)

if TYPE_CHECKING:
    from core.addresses import PinnedTarget

KEEPALIVE_SECONDS = 30.0
KEPT_MAX = 10  # kept connections per thread

_state = threading.local()  # (pid, pool) per thread


def http_pinned_close() -> None:
    """Close this thread's kept connections (tests; a worker shutting down); the next request makes them again,
    with the certificate store read again."""
    current = getattr(_state, "pool", None)
    if current is not None:
        _state.pool = None
        if current[0] == os.getpid():
            current[1].close()


def http_post_pinned(
    target: PinnedTarget,
    *,
    content: bytes,
    headers: Mapping[str, str],
    connect_timeout: float,
    read_timeout: float,
    keep_bytes: int,
) -> HttpResponse:
    """POST ``content`` to ``target``'s URL over this thread's pinned keep-alive connections: a new connection goes
    to the address checked (never resolving the name again), while the request's Host, the TLS server name and
    the certificate check all use the URL's own host. The answer's body is read up to ``keep_bytes`` and the rest
    dropped (a consumer's answer is only shown, never parsed); the transfer as a whole is bounded by the two
    timeouts together, so a slow drip of bytes cannot hold a worker. Redirects are answers, never followed.

    A lean HTTP/1.1 client (the standard library's), not httpx: an event delivery is one small POST, and the
    general client's layers cost more CPU than the rest of the delivery together."""
    where = f"POST to {target.origin.host}"
    pool = _pinned_pool()
    path = url_request_path(target.url)
    for reused in (True, False):
        connection, was_kept = pool.connection(target, connect_timeout=connect_timeout, read_timeout=read_timeout)
        try:
            return _pinned_exchange(
                connection,
                path=path,
                content=content,
                headers=headers,
                seconds=connect_timeout + read_timeout,
                keep_bytes=keep_bytes,
                where=where,
            )
        except _StaleConnectionError:
            pool.discard(target)
            if not (reused and was_kept):
                raise HttpConnectionError(f"{where} failed: the connection closed") from None
        except BaseException:
            pool.discard(target)
            raise
        finally:
            pool.settle(target, connection)
    raise HttpConnectionError(f"{where} failed: the connection closed")  # pragma: no cover - the loop returns


class _StaleConnectionError(Exception):
    """A kept connection the server had closed before our request reached it: tried once more on a new one."""


def _pinned_exchange(
    connection: http.client.HTTPConnection,
    *,
    path: str,
    content: bytes,
    headers: Mapping[str, str],
    seconds: float,
    keep_bytes: int,
    where: str,
) -> HttpResponse:
    """One request and its answer on ``connection``; the answer's body must arrive within ``seconds``."""
    started = time.monotonic()
    connected = connection.sock is not None
    try:
        connection.request("POST", path, body=content, headers={"User-Agent": USER_AGENT, **headers})
        try:
            response = connection.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as closed:
            if connected:
                raise _StaleConnectionError from closed
            raise
        body = _read_answer(response, keep_bytes=keep_bytes, ends_at=started + seconds, where=where)
    except (BrokenPipeError, ConnectionResetError) as closed:
        if connected:
            raise _StaleConnectionError from closed
        raise _connection_error(where, closed, sent=False) from None
    except TimeoutError:
        late = HttpTimeoutError(f"{where} timed out")
        late.may_have_been_sent = connection.sock is not None
        raise late from None
    except (OSError, http.client.HTTPException) as error:
        raise _connection_error(where, error, sent=connection.sock is not None) from None
    if response.will_close or not response.isclosed():  # closing, or more answer than we keep
        connection.close()
    return HttpResponse(
        status=response.status, headers={name.lower(): value for name, value in response.getheaders()}, body=body
    )


def _connection_error(where: str, error: BaseException, *, sent: bool) -> HttpConnectionError:
    translated = HttpConnectionError(f"{where} failed: {type(error).__name__}")
    translated.may_have_been_sent = sent
    return translated


def _read_answer(response: http.client.HTTPResponse, *, keep_bytes: int, ends_at: float, where: str) -> bytes:
    body = bytearray()
    while len(body) < keep_bytes:
        chunk = response.read(min(CHUNK_BYTES, keep_bytes - len(body)))
        if not chunk:
            break
        body += chunk
        if time.monotonic() > ends_at:
            late = HttpTimeoutError(f"{where}: the answer took longer than allowed")
            late.may_have_been_sent = True
            raise late
    return bytes(body)


class _PinnedPool:
    """This thread's kept connections to the tenants' URLs, one per host, port and checked address (a new check
    that gives another address opens another connection); idle ones are dropped after KEEPALIVE_SECONDS and the
    oldest beyond KEPT_MAX."""

    def __init__(self) -> None:
        self.ssl_context = ssl_context_new()
        self._idle: dict[tuple[str, str, int, str], tuple[http.client.HTTPConnection, float]] = {}
        self._busy: dict[tuple[str, str, int, str], http.client.HTTPConnection] = {}

    def connection(
        self, target: PinnedTarget, *, connect_timeout: float, read_timeout: float
    ) -> tuple[http.client.HTTPConnection, bool]:
        """A connection for ``target`` and whether it is one kept from an earlier request."""
        key = _pool_key(target)
        kept = self._idle.pop(key, None)
        if kept is not None and time.monotonic() - kept[1] < KEEPALIVE_SECONDS and kept[0].sock is not None:
            kept[0].sock.settimeout(read_timeout)
            self._busy[key] = kept[0]
            return kept[0], True
        if kept is not None:
            kept[0].close()
        connection = _pinned_connection(target, self.ssl_context, connect_timeout, read_timeout)
        self._busy[key] = connection
        return connection, False

    def discard(self, target: PinnedTarget) -> None:
        connection = self._busy.pop(_pool_key(target), None)
        if connection is not None:
            connection.close()

    def settle(self, target: PinnedTarget, connection: http.client.HTTPConnection) -> None:
        """After a request: a connection still open is kept for the next one."""
        key = _pool_key(target)
        self._busy.pop(key, None)
        if connection.sock is None:
            return
        self._idle[key] = (connection, time.monotonic())
        while len(self._idle) > KEPT_MAX:
            oldest = next(iter(self._idle))
            self._idle.pop(oldest)[0].close()

    def close(self) -> None:
        for connection, _used in self._idle.values():
            connection.close()
        for connection in self._busy.values():
            connection.close()
        self._idle.clear()
        self._busy.clear()


def _pool_key(target: PinnedTarget) -> tuple[str, str, int, str]:
    return (target.origin.scheme, target.connect_host, target.origin.port, str(target.address))


def _pinned_connection(
    target: PinnedTarget, ssl_context: ssl.SSLContext, connect_timeout: float, read_timeout: float
) -> http.client.HTTPConnection:
    """A connection named after the URL's host (Host header, TLS server name, certificate check) whose socket goes
    to the checked address, connected within ``connect_timeout`` and reading within ``read_timeout``."""
    address, port = str(target.address), target.origin.port
    connection: http.client.HTTPConnection
    if target.origin.scheme == "https":
        connection = http.client.HTTPSConnection(
            target.connect_host, port, timeout=connect_timeout, context=ssl_context
        )
    else:
        connection = http.client.HTTPConnection(target.connect_host, port, timeout=connect_timeout)

    def connect_pinned(_address: tuple[str, int], timeout: float, source: tuple[str, int] | None) -> socket.socket:
        sock = socket.create_connection((address, port), timeout, source)
        sock.settimeout(read_timeout)
        return sock

    connection._create_connection = connect_pinned  # type: ignore[attr-defined]
    return connection


def _pinned_pool() -> _PinnedPool:
    """This thread's pool of connections to URLs that tenants give (events), apart from the client for Graph and
    media; made again in a forked child."""
    current = getattr(_state, "pool", None)
    if current is not None and current[0] == os.getpid():
        pool: _PinnedPool = current[1]
        return pool
    pool = _PinnedPool()
    _state.pool = (os.getpid(), pool)
    return pool
