"""Over https the request connects to the address checked and still speaks to the URL's host: its name goes in
the TLS server name (SNI), and the certificate is verified against that name, not against the address."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts.models import Tenant
from core.http.pinned import http_pinned_close
from events.models import DeliveryAttempt, EventDelivery
from messaging.models import Channel
from tests.events.conftest import EndpointFactory
from tests.events.delivery_support import due_deliver, events_received_record
from tests.local_http import LocalServer, Reply

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "receiver.example.test"
OTHER = "other.example.test"


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name``, made with the openssl command."""
    key, certificate = folder / f"{name}.key", folder / f"{name}.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}"]
    subprocess.run(
        [
            shutil.which("openssl") or "openssl",
            *request,
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    return key, certificate


@pytest.fixture
def certificates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> Iterator[dict[str, tuple[Path, Path]]]:
    """Certificates for HOST and for another name, both trusted by this process's client (so only the name can
    make one fail); HOST resolves to loopback, allowed here. By name: the key and the certificate files."""
    settings.GATEWAY_EVENTS_ALLOW_HTTP = False
    settings.GATEWAY_EVENTS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    real = socket.getaddrinfo

    def resolve(host: str, port: object, *args: object, **kwargs: object) -> list[Any]:
        return real("127.0.0.1" if host == HOST else host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    made = {name: _certificate(tmp_path, name) for name in (HOST, OTHER)}
    bundle = tmp_path / "trusted.pem"
    bundle.write_bytes(b"".join(certificate.read_bytes() for _key, certificate in made.values()))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    http_pinned_close()  # the next client reads SSL_CERT_FILE
    yield made
    http_pinned_close()


def _serve_tls(server: LocalServer, files: tuple[Path, Path]) -> list[str]:
    """Serve ``server`` over TLS with the key and certificate ``files``; returns the server names clients send."""
    names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    key, certificate = files
    context.load_cert_chain(certificate, key)
    context.sni_callback = lambda _socket, name, _context: names.append(str(name)) and None  # type: ignore[func-returns-value]
    inner = server._server
    inner.socket = context.wrap_socket(inner.socket, server_side=True)
    server.start()
    return names


def test_the_pinned_https_request_sends_the_hosts_name_and_verifies_its_certificate(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, certificates: dict[str, tuple[Path, Path]]
) -> None:
    server = LocalServer()
    server.route("/hook", Reply(200))
    names = _serve_tls(server, certificates[HOST])
    try:
        port = server.base_url.rsplit(":", 1)[1]
        endpoint_make(tenant_a, url=f"https://{HOST}:{port}/hook")
        events_received_record(tenant_a, channel_a)
        due_deliver()
    finally:
        server.stop()

    assert names == [HOST]
    assert server.requests[0].headers["host"] == f"{HOST}:{port}"
    assert EventDelivery.objects.get().status == "delivered"


def test_a_certificate_for_another_name_is_refused(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, certificates: dict[str, tuple[Path, Path]]
) -> None:
    server = LocalServer()
    server.route("/hook", Reply(200))
    names = _serve_tls(server, certificates[OTHER])
    try:
        port = server.base_url.rsplit(":", 1)[1]
        endpoint_make(tenant_a, url=f"https://{HOST}:{port}/hook")
        events_received_record(tenant_a, channel_a)
        due_deliver()
    finally:
        server.stop()

    assert names == [HOST]
    assert server.requests == []
    assert DeliveryAttempt.objects.get().error == "connection"
