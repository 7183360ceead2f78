"""The problem document (core.api_errors) in the OpenAPI document, and the error responses an operation
documents: ``problem_responses`` builds them, so every view lists the same statuses with the same schema and
names only what is its own; ``ProblemAutoSchema`` documents every error status under ``application/problem+json``,
the media type the API answers errors with, so no view can document one as ``application/json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from core.api_errors import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE

FIRST_ERROR_STATUS = 400
TOO_MANY_REQUESTS = 429
_STRING = {"type": "string"}
RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": {
        "description": "The limits counted (IETF RateLimit fields), the key's then its tenant's: "
        '`"sends";q=600;w=60, "sends-tenant";q=3000;w=60` (q requests per w seconds).',
        "schema": _STRING,
    },
    "RateLimit": {
        "description": "What is left of each: "
        '`"sends";r=599;t=42, "sends-tenant";r=2999;t=42` (r requests for the next t seconds).',
        "schema": _STRING,
    },
}
RETRY_AFTER_HEADER = {"description": "Seconds until the full limit's window ends.", "schema": {"type": "integer"}}


class ProblemAutoSchema(AutoSchema):
    """drf-spectacular's schema, with each error response (an int status key, 400 and up) under the problem
    media type instead of the renderers' ``application/json``. A key that names its media type keeps it."""

    def _get_response_for_code(
        self, serializer: Any, status_code: str, media_types: Any = None, direction: Any = "response"
    ) -> Any:
        if media_types is None and int(status_code) >= FIRST_ERROR_STATUS:
            media_types = [PROBLEM_CONTENT_TYPE]
        return super()._get_response_for_code(serializer, status_code, media_types, direction)  # type: ignore[no-untyped-call]

    def _get_response_headers_for_code(self, status_code: str, direction: str = "response") -> dict[str, Any]:
        """The rate-limit headers (accounts.api_throttle) on the answers of an operation an API key is counted in."""
        headers: dict[str, Any] = super()._get_response_headers_for_code(status_code, direction)
        if not getattr(self.view, "throttle_classes", None) or not getattr(self.view, "authentication_classes", None):
            return headers
        if int(status_code) == TOO_MANY_REQUESTS:
            return {**headers, **RATE_LIMIT_HEADERS, "Retry-After": RETRY_AFTER_HEADER}
        if int(status_code) < FIRST_ERROR_STATUS:
            return {**headers, **RATE_LIMIT_HEADERS}
        return headers


class ProblemSerializer(serializers.Serializer[Any]):
    """RFC 9457 problem details; clients branch on ``code``."""

    type = serializers.CharField(help_text=f"Always `{PROBLEM_TYPE}`: the status says what kind of error it is.")
    title = serializers.CharField(help_text="The HTTP status's phrase.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    code = serializers.CharField(help_text="A stable code for programs, e.g. `not_found`, `insufficient_scope`.")


class FieldErrorSerializer(serializers.Serializer[Any]):
    field = serializers.CharField(
        allow_null=True, help_text="Dotted path into the body or query (`text.body`); null for the whole request."
    )
    code = serializers.CharField(help_text="e.g. `required`, `invalid`, `max_length`, `does_not_exist`.")
    detail = serializers.CharField()


class ValidationProblemSerializer(ProblemSerializer):
    """``code`` is ``invalid_request``; ``errors`` is empty when the body is not JSON at all."""

    # The metaclass takes declared fields off the class, so this does not shadow Serializer.errors at runtime.
    errors = FieldErrorSerializer(many=True)  # type: ignore[assignment]


UNAUTHORIZED = "Missing, malformed, expired or revoked API key (`not_authenticated`, `authentication_failed`)."
FORBIDDEN = "The API key lacks the required scope (`insufficient_scope`)."
URI_TOO_LONG = "The path and query are too long (`uri_too_long`)."
THROTTLED = "Too many failed API key attempts with this key id or from this address (`throttled`); see `Retry-After`."
UNAVAILABLE = "A service the gateway needs is out of reach (`service_unavailable`); retry after `Retry-After`."
THROTTLED = (
    "A rate limit of the key or of its tenant is used up (`throttled`); retry after `Retry-After` (docs/api.md, "
    "Rate limits)."
)
TOO_LARGE = "The body is larger than the API accepts (`request_too_large`)."
UNSUPPORTED = "The body is not `application/json` (`unsupported_media_type`)."
BAD_CURSOR = "The `cursor` is not one this list gave (`not_found`)."


def problem(description: str, serializer: type[serializers.Serializer[Any]] = ProblemSerializer) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description)


def invalid_request(description: str) -> OpenApiResponse:
    """A 400 that names each offending field in ``errors``."""
    return problem(description, ValidationProblemSerializer)


def problem_responses(
    own: Mapping[int, str | OpenApiResponse] | None = None, *, is_scoped: bool = True, has_body: bool = False
) -> dict[int, OpenApiResponse]:
    """An authenticated operation's error responses: the ones every operation can answer (401, 403 when a scope
    is required, 414, 429, 503; 413 and 415 when it reads a body), then its own (a plain description is a problem)."""
    common: dict[int, str | OpenApiResponse] = {401: UNAUTHORIZED, 414: URI_TOO_LONG, 429: THROTTLED, 503: UNAVAILABLE}
    if is_scoped:
        common[403] = FORBIDDEN
    if has_body:
        common |= {413: TOO_LARGE, 415: UNSUPPORTED}
    described = common | dict(own or {})
    return {
        status: problem(response) if isinstance(response, str) else response
        for status, response in sorted(described.items())
    }
