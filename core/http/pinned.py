"""Event deliveries' HTTP client: POSTs to the URLs tenants give, each to the one address core.addresses checked.

Over this thread's kept connections (core.http.kept), one per host, port and checked address, so a worker's
deliveries to an endpoint go over one keep-alive connection. A new connection goes to the address checked, never
resolving the name again, while the Host header, the TLS server name and the certificate check use the URL's own
host. Redirects are answers, never followed. Errors name the host only, as core.http's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from core.http import url_request_path
from core.http.base import HttpResponse
from core.http.kept import Exchange, Route, kept_close, kept_post

if TYPE_CHECKING:
    from core.addresses import PinnedTarget


def http_pinned_close() -> None:
    """Close this thread's kept connections (tests; a worker shutting down); the next request makes them again,
    with the certificate store read again."""
    kept_close()


def http_post_pinned(
    target: PinnedTarget,
    *,
    content: bytes,
    headers: Mapping[str, str],
    connect_timeout: float,
    read_timeout: float,
    keep_bytes: int,
) -> HttpResponse:
    """POST ``content`` to ``target``'s URL: a new connection goes to the address checked (never resolving the name
    again), while the request's Host, the TLS server name and the certificate check all use the URL's own host.
    The answer's body is read up to ``keep_bytes`` and the rest dropped (a consumer's answer is only shown, never
    parsed), and no longer read once both timeouts together have passed (core.http.kept.Exchange). A kept
    connection found dropped as
    the request went out is replaced and the request sent again: deliveries are at least once, by webhook-id."""
    route = Route(target.origin.scheme, target.connect_host, target.origin.port, str(target.address))
    limits = Exchange(connect_timeout, read_timeout, keep_bytes, cut_long_answers=True, retry_dropped=True)
    return kept_post(
        route,
        url_request_path(target.url),
        content=content,
        headers=headers,
        limits=limits,
        where=f"POST to {target.origin.host}",
    )
