"""The SSRF guard: a tenant's URL never reaches the gateway's own network. Private, loopback (unless allowed, as in
development), link-local, multicast, reserved and IPv4-mapped forms of those are refused, plain http only where
allowed; a host is resolved once and the request connects to the address checked, so a DNS answer that changes
between the check and the connection (rebinding) cannot move it."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Tenant
from events.models import DeliveryAttempt, EventDelivery
from events.transport import endpoint_url_check
from messaging.models import Channel
from tests.events.conftest import EndpointFactory
from tests.events.delivery_support import due_deliver, events_received_record, local_server
from tests.local_http import Reply

PUBLIC = "93.184.216.34"
REAL_GETADDRINFO = socket.getaddrinfo
Resolver = Callable[..., list[Any]]


def _answers(*addresses: str) -> Resolver:
    """A resolver whose answers for a name change on each lookup (the last one stays); an address literal is
    resolved as usual, as a real resolver does."""
    remaining = list(addresses)
    looked_up: list[str] = []

    def getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list[Any]:
        try:
            socket.inet_pton(socket.AF_INET, host)
        except OSError:
            looked_up.append(host)
            address = remaining.pop(0) if len(remaining) > 1 else remaining[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)  # type: ignore[arg-type]

    getaddrinfo.looked_up = looked_up  # type: ignore[attr-defined]
    return getaddrinfo


@pytest.fixture
def no_loopback(settings: Any) -> None:
    settings.GATEWAY_EVENTS_ALLOWED_NETWORKS = []
    settings.GATEWAY_EVENTS_ALLOW_HTTP = True


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://172.16.5.4/hook",
        "http://192.168.1.1/hook",
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://224.0.0.1/hook",
        "http://0.0.0.0/hook",
        "http://240.0.0.1/hook",
        "http://100.64.0.1/hook",
    ],
)
@pytest.mark.usefixtures("no_loopback")
def test_addresses_inside_the_gateways_networks_are_refused(url: str) -> None:
    assert endpoint_url_check(url) == "refused_address"


@pytest.mark.usefixtures("no_loopback")
def test_a_name_is_refused_when_any_of_its_addresses_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    def both(host: str, port: object, *args: object, **kwargs: object) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in (PUBLIC, "10.1.2.3")]

    monkeypatch.setattr(socket, "getaddrinfo", both)
    assert endpoint_url_check("https://hooks.example.com/in") == "refused_address"
    monkeypatch.setattr(socket, "getaddrinfo", _answers(PUBLIC))
    assert endpoint_url_check("https://hooks.example.com/in") is None


def test_plain_http_is_refused_where_not_allowed_and_so_are_unusable_urls(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.GATEWAY_EVENTS_ALLOW_HTTP = False
    monkeypatch.setattr(socket, "getaddrinfo", _answers(PUBLIC))

    assert endpoint_url_check("http://hooks.example.com/in") == "refused_scheme"
    assert endpoint_url_check("https://hooks.example.com/in") is None
    assert endpoint_url_check("https://user:pass@hooks.example.com/in") == "refused_url"
    assert endpoint_url_check("ftp://hooks.example.com/in") == "refused_url"


def test_loopback_is_allowed_only_inside_the_allowed_networks(settings: Any) -> None:
    settings.GATEWAY_EVENTS_ALLOW_HTTP = True
    settings.GATEWAY_EVENTS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert endpoint_url_check("http://127.0.0.1:8000/hook") is None
    assert endpoint_url_check("http://10.0.0.1/hook") == "refused_address"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_loopback")
def test_a_delivery_to_a_refused_address_is_a_failed_attempt_and_nothing_is_sent(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    with local_server() as server:
        server.route("/hook", Reply(200))
        endpoint_make(tenant_a, url=server.url("/hook"))
        events_received_record(tenant_a, channel_a)
        due_deliver()

    assert server.requests == []
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.status_code, attempt.error) == (None, "refused_address")
    assert EventDelivery.objects.get().status == "pending"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_loopback")
def test_a_name_rebound_to_loopback_after_the_check_is_never_connected_to(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.GATEWAY_EVENTS_CONNECT_TIMEOUT = 0.5
    resolver = _answers(PUBLIC, "127.0.0.1")
    with local_server() as server:
        server.route("/hook", Reply(200))
        port = server.base_url.rsplit(":", 1)[1]
        endpoint_make(tenant_a, url=f"http://rebind.example.test:{port}/hook")
        events_received_record(tenant_a, channel_a)
        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        due_deliver()

    assert resolver.looked_up == ["rebind.example.test"]  # type: ignore[attr-defined]
    assert server.requests == []  # the second answer, loopback, was never used
    assert DeliveryAttempt.objects.get().error in {"connection", "timeout"}


@pytest.mark.django_db(transaction=True)
def test_the_request_goes_to_the_address_checked_with_the_urls_own_host_header(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.GATEWAY_EVENTS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    resolver = _answers("127.0.0.1", "10.9.9.9")
    with local_server() as server:
        server.route("/hook", Reply(200))
        port = server.base_url.rsplit(":", 1)[1]
        endpoint_make(tenant_a, url=f"http://receiver.example.test:{port}/hook")
        events_received_record(tenant_a, channel_a)
        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        due_deliver()

    assert resolver.looked_up == ["receiver.example.test"]  # type: ignore[attr-defined]
    (seen,) = server.requests
    assert seen.headers["host"] == f"receiver.example.test:{port}"
    assert EventDelivery.objects.get().status == "delivered"
