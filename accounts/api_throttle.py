"""The API's rate limits as DRF's one throttle (settings.REST_FRAMEWORK's DEFAULT_THROTTLE_CLASSES).

Every GET counts as ``reads``; a view names the class of its changes in ``rate_limit_class`` (accounts.rate_limits:
``sends``, ``exports``, ``erasures``), the others' are ``writes``. Each request takes one from the key's
counter and one from its tenant's, in one atomic step (core.quota). Past either, the answer is 429 in the problem
shape with ``Retry-After``; every counted answer carries the IETF ``RateLimit-Policy`` and ``RateLimit`` headers
(core.api_edge copies them onto the response). Requests without an API key are not counted here.

Imported by DRF's settings while ``rest_framework.views`` loads: no DRF views or drf-spectacular here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.api_auth import ApiClient
from accounts.rate_limits import READS, WRITES, rate_limit_buckets
from core.quota import QuotaVerdict, quota_take

if TYPE_CHECKING:
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The attribute of the Django request core.api_edge copies the headers from.
HEADERS_ATTRIBUTE = (
    "rate_limit_headers"  # core.api_edge.RATE_LIMIT_HEADERS_ATTRIBUTE (not imported: it loads DRF views)
)


def view_rate_limit_class(view: Any, method: str) -> str:
    """GETs are ``reads``; a view's changes are in its ``rate_limit_class``, else ``writes``."""
    if method.upper() in SAFE_METHODS:
        return READS
    declared = getattr(view, "rate_limit_class", None)
    return declared if isinstance(declared, str) else WRITES


def rate_limit_headers(verdict: QuotaVerdict) -> dict[str, str]:
    """``RateLimit-Policy: "sends";q=600;w=60, ...`` and ``RateLimit: "sends";r=599;t=42, ...``
    (draft-ietf-httpapi-ratelimit-headers, structured-field lists): the key's policy, then its tenant's."""
    policies = [
        f'"{state.bucket.policy}";q={state.bucket.rate.limit};w={state.bucket.rate.window_seconds}'
        for state in verdict.states
    ]
    left = [f'"{state.bucket.policy}";r={state.remaining};t={state.reset_seconds}' for state in verdict.states]
    return {"RateLimit-Policy": ", ".join(policies), "RateLimit": ", ".join(left)}


class ApiRateThrottle(BaseThrottle):
    """Per API key and per tenant, by the view's class; the verdict's wait is the refusing window's remainder."""

    verdict: QuotaVerdict | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        client = request.user
        if not isinstance(client, ApiClient):
            return True
        limit_class = view_rate_limit_class(view, request.method or "GET")
        # Redis out of reach raises RedisUnavailableError, answered 503 (core.api_errors): a limit skipped while its
        # store is down is no limit (and the key could not have been authenticated either: accounts.apikey_guard).
        self.verdict = quota_take(rate_limit_buckets(client.api_key, limit_class))
        setattr(request._request, HEADERS_ATTRIBUTE, rate_limit_headers(self.verdict))
        return self.verdict.allowed

    def wait(self) -> float | None:
        return self.verdict.retry_after_seconds if self.verdict else None
