"""The REST API's one error shape: RFC 9457 problem details (``application/problem+json``) for every error of
every ``/api/`` path, from DRF's exceptions (settings.REST_FRAMEWORK's EXCEPTION_HANDLER), from the views' own
refusals (``problem_response``) and from Django itself (core.api_edge).

A body: ``type`` (always ``about:blank``: the status says what kind of error it is), ``title`` (the status's
phrase as RFC 9110 names it), ``status``, ``detail`` (for a person; never internals), and the members clients
branch on: ``code``, a stable machine code (``invalid_request``, ``not_found``, ``insufficient_scope``,
``validation_failed``…), and, for a request that does not match the schema, ``errors``: one ``{"field", "code",
"detail"}`` per problem, the field a dotted path into the body or query (``text.body``,
``interactive.action.buttons.0.reply.title``), null for the request as a whole. Some codes add members of their
own (a send rule's ``rule`` and ``field``, a refused cancel's ``message_status``).

Why not drf-standardized-errors: its bodies are not RFC 9457 (``type`` is a category such as
``validation_error``, no ``title`` or ``status``, ``attr`` for the field) and it answers ``application/json``;
bending it to this shape means replacing its formatter and its OpenAPI serializers, more code than this module,
and it still would not cover what Django answers before DRF runs (an unknown path, a body or URI too long).
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ParseError, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from core.redis import REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS, redis_outage

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE = "about:blank"
INVALID_REQUEST = "invalid_request"
SERVICE_UNAVAILABLE = "service_unavailable"
INVALID_REQUEST_DETAIL = "The request does not match the schema; `errors` names each problem."
# RFC 9110's phrases, fixed here: Python renames some between versions (413, 414, 422 in 3.13).
TITLES = {
    413: "Content Too Large",
    414: "URI Too Long",
    422: "Unprocessable Content",
}
# DRF's response headers an error keeps (the others are its content negotiation's).
KEPT_HEADERS = ("Retry-After", "WWW-Authenticate", "Allow")


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable. Try again shortly."
    default_code = SERVICE_UNAVAILABLE


def problem_body(http_status: int, code: str, detail: str, **extensions: Any) -> dict[str, Any]:
    """The problem document: RFC 9457's members, then ``code`` and any extension members."""
    return {
        "type": PROBLEM_TYPE,
        "title": TITLES.get(http_status) or HTTPStatus(http_status).phrase,
        "status": http_status,
        "detail": detail,
        "code": code,
        **extensions,
    }


def problem_response(
    http_status: int, code: str, detail: str, *, headers: Mapping[str, str] | None = None, **extensions: Any
) -> Response:
    """A view's own refusal, in the one error shape."""
    return Response(
        problem_body(http_status, code, detail, **extensions),
        status=http_status,
        headers=headers,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def field_errors(detail: Any, path: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """DRF's nested validation errors as a flat list, each with its field's dotted path and DRF's code."""
    if isinstance(detail, Mapping):
        return [
            error
            for key, value in detail.items()
            for error in field_errors(value, path if key == api_settings.NON_FIELD_ERRORS_KEY else (*path, str(key)))
        ]
    if isinstance(detail, list):
        return [
            error
            for index, item in enumerate(detail)
            for error in field_errors(item, (*path, str(index)) if isinstance(item, Mapping | list) else path)
        ]
    code = getattr(detail, "code", None) or "invalid"
    return [{"field": ".".join(path) or None, "code": code, "detail": str(detail)}]


def api_exception_handler(exception: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's answers in the one error shape; Redis out of reach answers 503 with Retry-After, never a 500.
    Anything DRF does not handle is a 500, which core.api_edge answers in the same shape."""
    exception = _as_api_exception(exception)
    drf_response = exception_handler(exception, context)
    if drf_response is None or not isinstance(exception, APIException):
        return drf_response
    headers = {name: drf_response[name] for name in KEPT_HEADERS if drf_response.has_header(name)}
    if isinstance(exception, ServiceUnavailable):
        headers["Retry-After"] = str(REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS)
    extensions: dict[str, Any] = {}
    if isinstance(exception, ValidationError):
        detail, code, extensions["errors"] = INVALID_REQUEST_DETAIL, INVALID_REQUEST, field_errors(exception.detail)
    elif isinstance(exception, ParseError):  # not JSON at all: no field to name
        detail, code, extensions["errors"] = str(exception.detail), INVALID_REQUEST, []
    else:
        detail, code = _detail_and_code(exception)
    return problem_response(drf_response.status_code, code, detail, headers=headers, **extensions)


def _as_api_exception(exception: Exception) -> Exception:
    """What DRF's handler converts on its own (Django's 404 and 403), and a Redis outage, as DRF exceptions."""
    if redis_outage(exception):
        return ServiceUnavailable()
    if isinstance(exception, Http404):
        return NotFound()
    if isinstance(exception, DjangoPermissionDenied):
        return PermissionDenied()
    return exception


def _detail_and_code(exception: APIException) -> tuple[str, str]:
    codes = exception.get_codes()
    code = codes if isinstance(codes, str) else exception.default_code
    return str(exception.detail), str(code)
