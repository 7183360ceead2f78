"""The REST API's error answers, shared by every endpoint (settings.REST_FRAMEWORK's EXCEPTION_HANDLER)."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.redis import REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS, redis_outage

INVALID_REQUEST = "invalid_request"
SERVICE_UNAVAILABLE = "service_unavailable"


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable. Try again shortly."
    default_code = SERVICE_UNAVAILABLE


def api_exception_handler(exception: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's answers, plus: a body DRF cannot parse answers the shape of every other malformed request
    (``error``, ``detail``, ``fields``); Redis out of reach answers 503 with Retry-After, never a 500."""
    if redis_outage(exception):
        exception = ServiceUnavailable()
    response = exception_handler(exception, context)
    if response is None:
        return None
    if isinstance(exception, ParseError):
        response.data = {"error": INVALID_REQUEST, "detail": str(exception.detail), "fields": {}}
    elif isinstance(exception, ServiceUnavailable):
        response.data = {"error": SERVICE_UNAVAILABLE, "detail": str(exception.detail)}
        response["Retry-After"] = str(REDIS_UNAVAILABLE_RETRY_AFTER_SECONDS)
    return response
