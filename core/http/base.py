"""What every outbound HTTP client of the gateway shares: its name, its errors and its answers."""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

USER_AGENT = "meta-gateway/1"
CHUNK_BYTES = 64 * 1024
DEFAULT_MAX_BYTES = 1024 * 1024  # API answers are small; callers that download files pass their own cap
DEFAULT_PORTS = {"https": 443, "http": 80}


class HttpError(Exception):
    """A request that got no usable response. ``is_retryable`` says whether trying again may help;
    ``may_have_been_sent`` whether the server may have received (and acted on) the request: False only when
    the connection was never made (refused, connect timeout, no free connection)."""

    is_retryable = False
    may_have_been_sent = False


class HttpTimeoutError(HttpError):
    is_retryable = True


class HttpConnectionError(HttpError):
    is_retryable = True


class HttpTooLargeError(HttpError):
    """The body is (or announces itself as) larger than the caller's cap."""

    may_have_been_sent = True  # an answer was coming


class HttpInvalidUrlError(HttpError):
    """The URL cannot be requested at all (malformed, or a scheme other than http and https)."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300  # noqa: PLR2004

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not JSON."""
        return json.loads(self.body)


def ssl_context_new() -> ssl.SSLContext:
    """A TLS context verifying certificates as this module's clients do (the certificate store read now)."""
    return httpx.create_ssl_context()
