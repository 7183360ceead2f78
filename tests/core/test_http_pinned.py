"""core.http.pinned: event POSTs reuse one kept connection per host and checked address, a kept connection the
server had dropped is replaced once without losing the request, and an answer longer than what is kept closes
its connection (the rest is never read)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from core.addresses import AddressPolicy, PinnedTarget, target_resolve
from core.http import HttpConnectionError
from core.http.kept import kept_pool
from core.http.pinned import http_post_pinned
from tests.local_http import KeepAliveServer, keep_alive_server

KEEP_BYTES = 64


def _target(server: KeepAliveServer, path: str) -> PinnedTarget:
    return target_resolve(server.url(path), AddressPolicy.of(allow_http=True, allowed_networks=("127.0.0.0/8",)))


def _post(target: PinnedTarget, body: bytes = b'{"n":1}') -> Any:
    return http_post_pinned(
        target, content=body, headers={"webhook-id": "evt_1"}, connect_timeout=5, read_timeout=5, keep_bytes=KEEP_BYTES
    )


def test_posts_to_one_host_reuse_one_kept_connection(connections_made: list[Any]) -> None:
    with keep_alive_server(b"ok") as server:
        target = _target(server, "/hook")
        answers = [_post(target, f'{{"n":{n}}}'.encode()) for n in range(5)]

    assert [(answer.status, answer.body) for answer in answers] == [(200, b"ok")] * 5
    assert len(connections_made) == 1
    assert server.bodies == [f'{{"n":{n}}}'.encode() for n in range(5)]
    assert server.webhook_ids == ["evt_1"] * 5


def test_a_kept_connection_the_server_dropped_is_replaced_once_and_the_post_goes_through(
    connections_made: list[Any],
) -> None:
    with keep_alive_server(b"ok") as server:
        target = _target(server, "/hook")
        _post(target)
        (kept,) = kept_pool().idle()
        assert kept.sock is not None
        kept.sock.shutdown(socket.SHUT_RDWR)  # as a server closing an idle connection leaves it
        answer = _post(target)

    assert (answer.status, len(connections_made), len(server.bodies)) == (200, 2, 2)


def test_an_answer_longer_than_what_is_kept_closes_its_connection(connections_made: list[Any]) -> None:
    with keep_alive_server(b"x" * (KEEP_BYTES * 4)) as server:
        target = _target(server, "/long")
        first, second = _post(target), _post(target)

    assert (first.body, second.body) == (b"x" * KEEP_BYTES, b"x" * KEEP_BYTES)
    assert len(connections_made) == 2


def test_a_refused_connection_is_a_connection_error_never_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    target = target_resolve(
        f"http://127.0.0.1:{port}/hook", AddressPolicy.of(allow_http=True, allowed_networks=("127.0.0.0/8",))
    )

    with pytest.raises(HttpConnectionError) as refused:
        _post(target)

    assert refused.value.may_have_been_sent is False
    assert "/hook" not in str(refused.value)


def test_a_delivery_whose_kept_connection_drops_as_it_goes_out_is_sent_again_on_a_new_one(
    connections_made: list[Any],
) -> None:
    with keep_alive_server(b"ok", dropped=frozenset({2})) as server:
        target = _target(server, "/hook")
        first, second = _post(target, b"1"), _post(target, b"2")

    assert (first.status, second.status) == (200, 200)
    assert server.bodies == [b"1", b"2", b"2"], "at least once: the dropped one again"
    assert len(connections_made) == 2
