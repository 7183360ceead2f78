"""Small POSTs over kept HTTP/1.1 connections: Graph sends (core.http) and event deliveries (core.http.pinned).

The standard library's ``http.client``, not httpx: a send or a delivery is one small POST, and the general
client's layers cost more CPU than the rest of the work (about 1.4 ms a POST against 0.6 ms). Each thread keeps
its own connections (made again in a forked child), one per scheme, host, port and address, so a worker's POSTs
to one place go over one keep-alive connection. Before a kept connection is used again it is checked for an
answer or a close the server sent meanwhile (it is then replaced: the request had not left). Redirects are
answers, never followed. Errors name the method and the host only, never a path, a query or a header.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from core.http.base import (
    CHUNK_BYTES,
    USER_AGENT,
    HttpConnectionError,
    HttpError,
    HttpResponse,
    HttpTimeoutError,
    HttpTooLargeError,
    ssl_context_new,
)

KEEPALIVE_SECONDS = 30.0
KEPT_MAX = 10  # kept connections per thread

_state = threading.local()  # (pid, pool) per thread


@dataclass(frozen=True, slots=True)
class Route:
    """Where a connection goes: ``host`` as the URL names it (the Host header, the TLS server name and the
    certificate check use it) and the ``address`` its socket connects to ('': the host's own resolution)."""

    scheme: str
    host: str
    port: int
    address: str = ""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One POST's limits: connecting (with TLS) within ``connect_timeout``, each read within ``read_timeout``, and
    the answer's body no longer read once both together have passed since the request (a slow drip of a body
    cannot hold a thread; a drip of the header lines is bounded per read only). An answer longer than
    ``max_bytes`` is cut there when ``cut_long_answers`` (only shown, never parsed) and refused otherwise.
    ``retry_dropped``: a kept connection found dropped as the request went out is replaced and the request sent
    again (only where a duplicate is harmless; otherwise it fails as may-have-been-sent)."""

    connect_timeout: float
    read_timeout: float
    max_bytes: int
    cut_long_answers: bool = False
    retry_dropped: bool = False


def kept_post(
    route: Route, path: str, *, content: bytes, headers: Mapping[str, str], limits: Exchange, where: str
) -> HttpResponse:
    """POST ``content`` to ``path`` on ``route`` over this thread's kept connection there (a new one if none)."""
    pool = kept_pool()
    for may_retry in (limits.retry_dropped, False):
        connection, was_kept = pool.connection(route, limits)
        try:
            return _exchange(connection, path=path, content=content, headers=headers, limits=limits, where=where)
        except _DroppedError:
            pool.discard(route)
            if not (may_retry and was_kept):
                dropped = HttpConnectionError(f"{where} failed: the connection closed")
                dropped.may_have_been_sent = True
                raise dropped from None
        except BaseException:
            pool.discard(route)
            raise
        finally:
            pool.settle(route, connection)
    raise HttpConnectionError(f"{where} failed: the connection closed")  # pragma: no cover - the loop returns


class _DroppedError(Exception):
    """A kept connection that closed as our request went out: the server may not have read it."""


def _exchange(
    connection: http.client.HTTPConnection,
    *,
    path: str,
    content: bytes,
    headers: Mapping[str, str],
    limits: Exchange,
    where: str,
) -> HttpResponse:
    """One request and its answer on ``connection`` (connected first when new: a failure then sent nothing).
    Once connected, any failure may have followed the request's arrival, whatever the connection's state."""
    ends_at = time.monotonic() + limits.connect_timeout + limits.read_timeout
    was_kept = connection.sock is not None
    if not was_kept:
        _connect(connection, limits=limits, where=where)
    try:
        connection.request("POST", path, body=content, headers={"User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        body = _answer_read(response, limits=limits, ends_at=ends_at, where=where)
    except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as closed:
        if was_kept:
            raise _DroppedError from closed
        raise _connection_error(where, closed) from None
    except TimeoutError:
        late = HttpTimeoutError(f"{where} timed out")
        late.may_have_been_sent = True
        raise late from None
    except (OSError, http.client.HTTPException) as error:
        raise _connection_error(where, error) from None
    except ValueError:  # a header value http.client refuses (a line break): never sent, and never named
        raise HttpError(f"{where}: a header cannot be sent as given") from None
    if response.will_close or not response.isclosed():  # closing, or more answer than we keep
        connection.close()
    return HttpResponse(
        status=response.status, headers={name.lower(): value for name, value in response.getheaders()}, body=body
    )


def _connect(connection: http.client.HTTPConnection, *, limits: Exchange, where: str) -> None:
    """Connect (and for https, the TLS handshake) within the connect timeout; then reads wait the read timeout.
    A failure here sent nothing."""
    try:
        connection.connect()
    except TimeoutError:
        connection.close()
        raise HttpTimeoutError(f"{where} timed out") from None
    except OSError as error:  # refused, unreachable, TLS handshake or certificate (ssl.SSLError is an OSError)
        connection.close()
        refused = _connection_error(where, error)
        refused.may_have_been_sent = False
        raise refused from None
    connection.sock.settimeout(limits.read_timeout)


def _connection_error(where: str, error: BaseException) -> HttpConnectionError:
    """A failure once connected: the request may have arrived."""
    translated = HttpConnectionError(f"{where} failed: {type(error).__name__}")
    translated.may_have_been_sent = True
    return translated


def _answer_read(response: http.client.HTTPResponse, *, limits: Exchange, ends_at: float, where: str) -> bytes:
    cap = limits.max_bytes
    announced = response.getheader("content-length", "")
    if not limits.cut_long_answers and announced.isdigit() and int(announced) > cap:
        raise HttpTooLargeError(f"{where}: the body announces {announced} bytes, more than the {cap} allowed")
    body = bytearray()
    while len(body) <= cap:
        chunk = response.read(min(CHUNK_BYTES, cap + 1 - len(body)))
        if not chunk:
            if response.length:  # the connection closed before the announced length: a cut answer
                cut = HttpConnectionError(f"{where} failed: the answer was cut short")
                cut.may_have_been_sent = True
                raise cut
            break
        body += chunk
        if time.monotonic() > ends_at:
            late = HttpTimeoutError(f"{where}: the answer took longer than allowed")
            late.may_have_been_sent = True
            raise late
    if len(body) > cap:
        if not limits.cut_long_answers:
            raise HttpTooLargeError(f"{where}: the body is larger than the {cap} bytes allowed")
        del body[cap:]
    return bytes(body)


class KeptConnections:
    """This thread's kept connections, one per route; idle ones are dropped after KEEPALIVE_SECONDS, the oldest
    beyond KEPT_MAX, and any the server has closed or written to meanwhile."""

    def __init__(self) -> None:
        self.ssl_context = ssl_context_new()
        self._idle: dict[Route, tuple[http.client.HTTPConnection, float]] = {}
        self._busy: dict[Route, http.client.HTTPConnection] = {}

    def connection(self, route: Route, limits: Exchange) -> tuple[http.client.HTTPConnection, bool]:
        """A connection for ``route`` and whether it is one kept from an earlier request."""
        kept = self._idle.pop(route, None)
        if kept is not None and _reusable(kept[0], kept[1]):
            kept[0].sock.settimeout(limits.read_timeout)
            self._busy[route] = kept[0]
            return kept[0], True
        if kept is not None:
            kept[0].close()
        connection = _connection_new(route, self.ssl_context, limits)
        self._busy[route] = connection
        return connection, False

    def discard(self, route: Route) -> None:
        connection = self._busy.pop(route, None)
        if connection is not None:
            connection.close()

    def settle(self, route: Route, connection: http.client.HTTPConnection) -> None:
        """After a request: a connection still open is kept for the next one."""
        self._busy.pop(route, None)
        if connection.sock is None:
            return
        self._idle[route] = (connection, time.monotonic())
        while len(self._idle) > KEPT_MAX:
            oldest = next(iter(self._idle))
            self._idle.pop(oldest)[0].close()

    def idle(self) -> list[http.client.HTTPConnection]:
        return [connection for connection, _used in self._idle.values()]

    def close(self) -> None:
        for connection in [*self.idle(), *self._busy.values()]:
            connection.close()
        self._idle.clear()
        self._busy.clear()


def _reusable(connection: http.client.HTTPConnection, used_at: float) -> bool:
    """Open, used recently, and silent since: a readable idle socket holds the server's close (or bytes nobody
    asked for), and a request sent on it would be lost."""
    if connection.sock is None or time.monotonic() - used_at >= KEEPALIVE_SECONDS:
        return False
    poller = select.poll()  # not select.select: that fails on descriptors above 1023
    poller.register(connection.sock, select.POLLIN)
    return not poller.poll(0)


def _connection_new(route: Route, ssl_context: ssl.SSLContext, limits: Exchange) -> http.client.HTTPConnection:
    """A connection named after the route's host whose socket goes to its address (when it has one); not yet
    connected (``_connect`` does, within the connect timeout)."""
    connection: http.client.HTTPConnection
    if route.scheme == "https":
        connection = http.client.HTTPSConnection(
            route.host, route.port, timeout=limits.connect_timeout, context=ssl_context
        )
    else:
        connection = http.client.HTTPConnection(route.host, route.port, timeout=limits.connect_timeout)

    def connect(_address: tuple[str, int], timeout: float, source: tuple[str, int] | None) -> socket.socket:
        return socket.create_connection((route.address or route.host, route.port), timeout, source)

    connection._create_connection = connect  # type: ignore[attr-defined]
    return connection


def kept_pool() -> KeptConnections:
    """This thread's kept connections, made on first use (and again in a forked child)."""
    current = getattr(_state, "pool", None)
    if current is not None and current[0] == os.getpid():
        pool: KeptConnections = current[1]
        return pool
    pool = KeptConnections()
    _state.pool = (os.getpid(), pool)
    return pool


def kept_close() -> None:
    """Close this thread's kept connections (tests; a worker shutting down); the next request makes them again,
    with the certificate store read again."""
    current = getattr(_state, "pool", None)
    if current is not None:
        _state.pool = None
        if current[0] == os.getpid():
            current[1].close()
