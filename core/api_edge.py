"""The API's edge: every error of an ``/api/`` path is a problem document (core.api_errors), even those Django
answers before or around DRF: an unknown path (404), a body or URI past its limit (413, 414), a crash (500), a
refused Host (400). Webhooks and the admin keep their own answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.api_errors import PROBLEM_CONTENT_TYPE, problem_body

API_PREFIX = "/api/"
# Below gunicorn's request line limit (deploy/gunicorn.conf.py), so that an API client reads why.
API_MAX_URI_BYTES = 4096
# The headers of Django's own answer that stay on the problem document.
KEPT_HEADERS = ("Retry-After", "Allow")
CODES = {
    400: ("invalid_request", "The request is malformed."),
    404: ("not_found", "No API operation at this path."),
    405: ("method_not_allowed", "This path does not accept this method."),
    413: ("request_too_large", "The request body is larger than the API accepts."),
    414: ("uri_too_long", f"The path and query are longer than {API_MAX_URI_BYTES} bytes."),
    500: ("server_error", "The server could not complete the request; it has been logged."),
    503: ("service_unavailable", "The service is temporarily unavailable. Try again shortly."),
}
GENERIC = ("error", "The request could not be completed.")
# Set on the request by the API's rate-limit throttle: header name to value.
RATE_LIMIT_HEADERS_ATTRIBUTE = "rate_limit_headers"


class ApiProblemMiddleware:
    """Refuses an API request whose URI or declared body is too long, and turns any error answer of an API path
    that is not JSON into a problem document (Django's HTML 404 and 500 pages, its 400 for a bad Host). DRF's
    errors are problem documents already; a JSON body is never replaced, so that no view's detail is lost (one
    that is not a problem document is a bug the OpenAPI fuzz test reports by its content type)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        if len(request.get_full_path().encode()) > API_MAX_URI_BYTES:
            return problem_http_response(414)
        if _declared_body_bytes(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return problem_http_response(413)
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):  # noqa: PLR2004
            response = _as_problem(response)
        # The rate limit the request was counted against (accounts.api_throttle), on success and refusal alike.
        for name, value in getattr(request, RATE_LIMIT_HEADERS_ATTRIBUTE, {}).items():
            response[name] = value
        return response


def _as_problem(response: HttpResponse) -> HttpResponse:
    problem = problem_http_response(response.status_code)
    for name in KEPT_HEADERS:
        if response.has_header(name):
            problem[name] = response[name]
    return problem


def problem_http_response(http_status: int) -> HttpResponse:
    code, detail = CODES.get(http_status, GENERIC)
    body = json.dumps(problem_body(http_status, code, detail))
    return HttpResponse(body, status=http_status, content_type=PROBLEM_CONTENT_TYPE)


def _is_json(response: HttpResponse) -> bool:
    media_type = response.get("Content-Type", "").split(";")[0].strip()
    return media_type in ("application/json", PROBLEM_CONTENT_TYPE) or media_type.endswith("+json")


def _declared_body_bytes(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
