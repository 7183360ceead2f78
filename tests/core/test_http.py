"""The one outbound HTTP client against a real local server: caps, timeouts, no redirects, clean errors."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from core.http import (
    HttpConnectionError,
    HttpError,
    HttpInvalidUrlError,
    HttpTimeoutError,
    HttpTooLargeError,
    UrlOrigin,
    _proxied,
    http_client,
    http_client_close,
    http_get,
    http_post_json,
    url_origin,
)
from core.http.kept import kept_pool
from tests.local_http import LocalServer, Reply, keep_alive_server

TOKEN = "EAAG-bearer-that-must-never-leak-0123456789"
SECRET_PATH = "/v25.0/media-id-that-is-content?mid=private-query"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    running = LocalServer().start()
    yield running
    running.stop()
    http_client_close()


def test_get_returns_status_headers_and_body(server: LocalServer) -> None:
    server.route("/hello", Reply(body=b"hi there", headers={"Content-Type": "text/plain", "X-Marker": "7"}))

    response = http_get(server.url("/hello"), headers={"Authorization": f"Bearer {TOKEN}"})

    assert (response.status, response.body, response.is_success) == (200, b"hi there", True)
    assert response.headers["x-marker"] == "7"
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert server.requests[0].headers["user-agent"] == "meta-gateway/1"


def test_post_json_sends_a_json_body_and_returns_any_status(server: LocalServer) -> None:
    server.route("/send", Reply(status=400, body=b'{"error":{"code":100}}'))

    response = http_post_json(server.url("/send"), payload={"to": "+1650", "text": {"body": "é"}})

    seen = server.requests[0]
    assert (seen.method, seen.headers["content-type"]) == ("POST", "application/json")
    assert json.loads(seen.body) == {"to": "+1650", "text": {"body": "é"}}
    assert (response.status, response.is_success, response.json()) == (400, False, {"error": {"code": 100}})


def test_a_body_up_to_the_cap_is_read_and_one_byte_more_is_refused(server: LocalServer) -> None:
    server.route("/exact", Reply(body=b"x" * 4096))
    server.route("/announced", Reply(body=b"x" * 4097))
    server.route("/streamed", Reply(body=b"x" * 200_000, announce_length=False))

    assert len(http_get(server.url("/exact"), max_bytes=4096).body) == 4096
    with pytest.raises(HttpTooLargeError, match="announces 4097 bytes"):
        http_get(server.url("/announced"), max_bytes=4096)
    with pytest.raises(HttpTooLargeError, match="larger than the 4096 bytes allowed"):
        http_get(server.url("/streamed"), max_bytes=4096)


def test_a_post_answer_over_the_cap_is_refused(server: LocalServer) -> None:
    server.route("/announced", Reply(body=b"x" * 4097))
    server.route("/streamed", Reply(body=b"x" * 200_000, announce_length=False))
    server.route("/exact", Reply(body=b"x" * 4096, announce_length=False))

    assert len(http_post_json(server.url("/exact"), payload={}, max_bytes=4096).body) == 4096
    with pytest.raises(HttpTooLargeError, match="announces 4097 bytes"):
        http_post_json(server.url("/announced"), payload={}, max_bytes=4096)
    with pytest.raises(HttpTooLargeError, match="larger than the 4096 bytes allowed"):
        http_post_json(server.url("/streamed"), payload={}, max_bytes=4096)


def test_a_slow_post_times_out_as_may_have_been_sent_and_names_only_the_host(server: LocalServer) -> None:
    server.route(SECRET_PATH, Reply(body=b"late", delay=2.5))

    with pytest.raises(HttpTimeoutError) as caught:
        http_post_json(server.url(SECRET_PATH), payload={}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=0.5)

    assert str(caught.value) == "POST to 127.0.0.1 timed out"
    assert caught.value.may_have_been_sent and caught.value.is_retryable
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_refused_post_was_never_sent_and_its_error_names_only_the_host() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(HttpConnectionError) as caught:
        http_post_json(f"http://127.0.0.1:{port}{SECRET_PATH}", payload={}, headers={"Authorization": TOKEN})

    assert str(caught.value) == "POST to 127.0.0.1 failed: ConnectionRefusedError"
    assert not caught.value.may_have_been_sent
    assert TOKEN not in repr(caught.value) and "private-query" not in repr(caught.value)


def test_a_post_answer_dripping_past_the_read_timeout_may_have_been_sent(server: LocalServer) -> None:
    server.route("/send", Reply(body=b"y" * 4096, drip_seconds=1.0))  # Connection: close, as HTTP/1.0 servers do

    with pytest.raises(HttpTimeoutError) as caught:
        http_post_json(server.url("/send"), payload={}, timeout=0.5)

    assert caught.value.may_have_been_sent


def test_a_post_answer_cut_short_is_an_error_that_may_have_been_sent(server: LocalServer) -> None:
    server.route("/send", Reply(body=b'{"messages":[{"id":"wamid.1"}]}', cut_after=10))

    with pytest.raises(HttpConnectionError, match="cut short") as caught:
        http_post_json(server.url("/send"), payload={})

    assert caught.value.may_have_been_sent


def test_a_post_goes_through_the_proxy_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = LocalServer().start()
    target = "http://graph.invalid/v25.0/1/messages"
    proxy.route(target, Reply(body=b'{"via":"proxy"}'))
    monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    _proxied.cache_clear()
    http_client_close()
    try:
        answer = http_post_json(target, payload={"n": 1})
    finally:
        proxy.stop()
        http_client_close()
        _proxied.cache_clear()

    assert (answer.status, answer.json()) == (200, {"via": "proxy"})
    assert [(seen.method, seen.body) for seen in proxy.requests] == [("POST", b'{"n":1}')]


def test_a_header_value_http_cannot_carry_is_refused_without_naming_it(server: LocalServer) -> None:
    with pytest.raises(HttpError) as caught:
        http_post_json(server.url("/send"), payload={}, headers={"Authorization": f"Bearer {TOKEN}\r\nX: y"})

    assert not caught.value.may_have_been_sent and TOKEN not in str(caught.value)
    assert server.requests == []


def test_posts_to_one_host_go_over_one_kept_connection(connections_made: list[Any]) -> None:
    with keep_alive_server(b'{"ok":true}') as server:
        answers = [http_post_json(server.url("/v25.0/1/messages"), payload={"n": n}) for n in range(4)]

    assert [(answer.status, answer.json()) for answer in answers] == [(200, {"ok": True})] * 4
    assert len(connections_made) == 1


def test_an_idle_connection_the_server_closed_is_replaced_before_the_post(connections_made: list[Any]) -> None:
    with keep_alive_server(b"{}") as server:
        http_post_json(server.url("/a"), payload={"n": 1})
        (kept,) = kept_pool().idle()
        assert kept.sock is not None
        kept.sock.shutdown(socket.SHUT_RDWR)  # as a server closing an idle connection leaves it
        answer = http_post_json(server.url("/a"), payload={"n": 2})

    assert (answer.status, len(connections_made), server.bodies) == (200, 2, [b'{"n":1}', b'{"n":2}'])


def test_a_send_whose_connection_drops_after_it_went_out_is_never_sent_again(connections_made: list[Any]) -> None:
    with keep_alive_server(b"{}", dropped=frozenset({2})) as server:
        http_post_json(server.url("/send"), payload={"n": 1})
        with pytest.raises(HttpConnectionError) as caught:
            http_post_json(server.url("/send"), payload={"n": 2})
        third = http_post_json(server.url("/send"), payload={"n": 3})

    assert caught.value.may_have_been_sent
    assert server.bodies == [b'{"n":1}', b'{"n":2}', b'{"n":3}'], "the dropped send went out once"
    assert (third.status, len(connections_made)) == (200, 2)


def test_a_slow_answer_times_out_and_the_error_names_only_the_host(server: LocalServer) -> None:
    server.route(SECRET_PATH, Reply(body=b"late", delay=2.5))

    with pytest.raises(HttpTimeoutError) as caught:
        http_get(server.url(SECRET_PATH), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=0.5)

    message = str(caught.value)
    assert message == "GET to 127.0.0.1 timed out"
    assert caught.value.is_retryable
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_body_dripping_past_the_deadline_is_abandoned(server: LocalServer) -> None:
    server.route("/drip", Reply(body=b"y" * 10 * 1024, drip_seconds=0.3))

    with pytest.raises(HttpTimeoutError, match=r"took longer than 0\.5 seconds"):
        http_get(server.url("/drip"), timeout=5, deadline_seconds=0.5)


def test_a_refused_connection_is_a_retryable_error_without_the_token_or_path() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(HttpConnectionError) as caught:
        http_get(f"http://127.0.0.1:{port}{SECRET_PATH}", headers={"Authorization": f"Bearer {TOKEN}"})

    assert caught.value.is_retryable
    assert str(caught.value) == "GET to 127.0.0.1 failed: ConnectError"
    assert TOKEN not in repr(caught.value) and "private-query" not in repr(caught.value)


def test_redirects_are_returned_not_followed(server: LocalServer) -> None:
    server.route("/moved", Reply(status=302, headers={"Location": "https://elsewhere.example/x"}))

    response = http_get(server.url("/moved"))

    assert (response.status, response.headers["location"]) == (302, "https://elsewhere.example/x")
    assert server.paths_requested() == ["/moved"]


@pytest.mark.parametrize("url", ["ftp://example.com/file", "file:///etc/passwd", "http://"])
def test_a_url_that_cannot_be_requested_is_refused(url: str) -> None:
    with pytest.raises(HttpInvalidUrlError):
        http_get(url)


def test_one_client_per_process_is_reused_until_closed() -> None:
    first = http_client()
    assert http_client() is first
    http_client_close()
    assert http_client() is not first
    http_client_close()


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Lookaside.FBSBX.com/a?b=c", UrlOrigin("https", "lookaside.fbsbx.com", 443)),
        ("http://127.0.0.1:8123/v25.0/1", UrlOrigin("http", "127.0.0.1", 8123)),
        ("https://cdn.fbcdn.net./x", UrlOrigin("https", "cdn.fbcdn.net", 443)),
        ("https://user:pass@cdn.fbcdn.net/x", None),
        ("https://evil.example\\@cdn.fbcdn.net/x", None),
        ("gopher://cdn.fbcdn.net/x", None),
        ("not a url", None),
    ],
)
def test_url_origin_is_parsed_as_the_client_would_connect(url: str, origin: UrlOrigin | None) -> None:
    assert url_origin(url) == origin
