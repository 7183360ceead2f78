"""``GET /metrics``: Prometheus' text format, for a scraper holding the bearer token (docs/metrics.md).

With ``GATEWAY_METRICS_TOKEN`` set, a request without that exact token gets 401. Without one, production answers
404 (nothing is exposed by accident) and development serves everyone.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from console.metrics.backlog import BacklogCollector
from core.metrics import exposition_registry

BEARER = "Bearer "


def _backlog_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BacklogCollector())
    return registry


def _is_allowed(request: HttpRequest) -> bool | None:
    """True: serve; False: 401; None: 404 (no token configured in production)."""
    token: str = settings.GATEWAY_METRICS_TOKEN
    if not token:
        return None if settings.IS_PRODUCTION else True
    header = request.headers.get("Authorization", "")
    given = header[len(BEARER) :] if header.startswith(BEARER) else ""
    return hmac.compare_digest(given.encode(), token.encode())


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    allowed = _is_allowed(request)
    if allowed is None:
        return HttpResponse(status=404)
    if not allowed:
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # The processes' counters, then the gauges read now: two registries, so that a worker host's metrics_serve,
    # which shares the first, never repeats the backlog queries.
    body = generate_latest(exposition_registry()) + generate_latest(_backlog_registry())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
