"""Real HTTP servers on 127.0.0.1 in a thread: one answering scripted replies per path (a stand-in for Graph
and Meta's CDNs), one keeping its connections alive; both record every request they get."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.http.kept import kept_close


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    announce_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    drip_seconds: float = 0.0  # pause between 1 KiB pieces of the body
    cut_after: int | None = None  # the connection closes after this many bytes of the (announced) body


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LocalServer:
    """``route(path, *replies)``: replies are used in order, the last one again and again; unknown paths 404."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def route(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.routes[path] = list(replies)

    def paths_requested(self) -> list[str]:
        with self._lock:
            return [seen.path for seen in self.requests]

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            replies = self.routes.get(seen.path)
            if not replies:
                return Reply(status=404, body=b'{"error":{"message":"Unknown path","code":100}}')
            return replies.pop(0) if len(replies) > 1 else replies[0]


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = server.answer(Seen(self.command, self.path, headers, body))
            time.sleep(reply.delay)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up first
                self._write(reply)

        def _write(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.announce_length:
                self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if reply.cut_after is not None:
                self.wfile.write(reply.body[: reply.cut_after])
                return
            if not reply.drip_seconds:
                self.wfile.write(reply.body)
                return
            for start in range(0, len(reply.body), 1024):
                self.wfile.write(reply.body[start : start + 1024])
                self.wfile.flush()
                time.sleep(reply.drip_seconds)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


class KeepAliveServer:
    """A local HTTP/1.1 server that keeps connections open and answers 200 with ``answer``, recording the bodies;
    the requests numbered in ``dropped`` (from 1) are read and their connection closed with no answer."""

    def __init__(self, answer: bytes, *, dropped: frozenset[int] = frozenset()) -> None:
        self.bodies: list[bytes] = []
        self.webhook_ids: list[str] = []
        recorded = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                recorded.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                recorded.webhook_ids.append(self.headers.get("webhook-id", ""))
                if len(recorded.bodies) in dropped:
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def keep_alive_server(answer: bytes, *, dropped: frozenset[int] = frozenset()) -> Iterator[KeepAliveServer]:
    """The server, and this thread's kept connections closed before and after."""
    server = KeepAliveServer(answer, dropped=dropped)
    kept_close()
    try:
        yield server
    finally:
        kept_close()
        server.stop()
