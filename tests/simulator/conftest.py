"""The simulator as a real subprocess on a free port, a client for it, and a webhook receiver.

No database: the simulator is a separate process and these tests only talk HTTP to it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT

TOKEN = "sim-access-token"
APP_SECRET = "sim-app-secret"
PHONE_NUMBER_ID = "106540352242922"
PAGE_ID = "1234567890"


@dataclass
class Response:
    status: int
    body: Any


class SimulatorClient:
    """Plain http.client calls, one keep-alive connection per client, like a gateway worker."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=10)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> Response:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        self.connection.timeout = timeout
        if self.connection.sock is not None:
            self.connection.sock.settimeout(timeout)
        try:
            self.connection.request(method, path, body=data, headers=all_headers)
            response = self.connection.getresponse()
            content = response.read()
        except Exception:
            self.connection.close()
            raise
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        return Response(response.status, json.loads(content) if is_json else content)

    def send_text(self, to: str, *, callback_data: str | None = None, token: str = TOKEN, **extra: Any) -> Response:
        body: dict[str, Any] = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "Hi"}}
        if callback_data is not None:
            body["biz_opaque_callback_data"] = callback_data
        return self.request("POST", f"/v23.0/{PHONE_NUMBER_ID}/messages", {**body, **extra}, token=token)

    def sends(self) -> dict[str, Any]:
        response = self.request("GET", "/_sim/sends")
        assert response.status == 200
        return dict(response.body)

    def webhooks(self) -> dict[str, Any]:
        return dict(self.request("GET", "/_sim/webhooks").body)

    def channel_add(self, **fields: Any) -> dict[str, Any]:
        channel = {
            "platform": "whatsapp",
            "provider_id": PHONE_NUMBER_ID,
            "access_token": TOKEN,
            "app_secret": APP_SECRET,
            "display_phone_number": "15550783881",
            "waba_id": "102290129340398",
            "status_delays_ms": None,
            **fields,
        }
        response = self.request("POST", "/_sim/channels", channel)
        assert response.status == 201, response.body
        return channel


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    def is_signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Hub-Signature-256", ""), expected)


@dataclass
class WebhookReceiver:
    """A tiny HTTP server standing in for the gateway's webhook endpoint."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    failures_left: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                return 500
            self.received.append(Received(path, headers, body))
            return 200

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    command = [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", "0", "--log-level", "WARNING"]
    # SIMULATOR_IDENTITY=bsuid (or bsuid_only) runs the same tests against Meta's 2026 identity shapes.
    if identity := os.environ.get("SIMULATOR_IDENTITY"):
        command += ["--identity", identity]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first_line = process.stdout.readline()
    assert first_line.startswith("simulator listening on "), first_line + (
        process.stderr.read() if process.stderr else ""
    )
    try:
        yield first_line.split()[-1]
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
        stderr = process.stderr.read() if process.stderr else ""
        assert "Traceback" not in stderr, stderr


@pytest.fixture
def simulator(simulator_url: str) -> Iterator[SimulatorClient]:
    client = SimulatorClient(simulator_url)
    assert client.request("DELETE", "/_sim/channels").status == 200
    yield client
    client.connection.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    state = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.record(self.path, dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/meta/app-key/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
