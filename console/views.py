"""The landing page at ``/`` and the health endpoints load balancers and orchestrators ask."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from console.health import readiness_probes


@require_safe
def landing(request: HttpRequest) -> HttpResponse:
    """What this gateway is, and where to go: the admin, the API docs, the OpenAPI document and health."""
    return render(request, "console/landing.html", {"title": settings.SPECTACULAR_SETTINGS["TITLE"]})


@never_cache
@require_safe
def liveness(request: HttpRequest) -> HttpResponse:
    """The process answers: nothing else is asked, so a busy database never restarts a healthy web process."""
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")


@never_cache
@require_safe
def readiness(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker and the key provider answer; 503 naming the ones that do not."""
    results = readiness_probes()
    failed = [result.name for result in results if not result.is_ok]
    body = {
        "status": "unavailable" if failed else "ok",
        "checks": {result.name: "ok" if result.is_ok else "unreachable" for result in results},
    }
    return JsonResponse(body, status=503 if failed else 200)
