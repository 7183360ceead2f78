"""The problem documents the API answers (RFC 9457), written out so that tests compare whole bodies."""

from __future__ import annotations

from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
NOT_FOUND = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "Not found.", "code": "not_found"}
INVALID_REQUEST_DETAIL = "The request does not match the schema; `errors` names each problem."


def problem(status: int, code: str, detail: str, **extensions: Any) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": TITLES[status],
        "status": status,
        "detail": detail,
        "code": code,
        **extensions,
    }


def invalid_request(*errors: tuple[str | None, str, str]) -> dict[str, Any]:
    """A 400 naming each (field, code, detail)."""
    listed = [{"field": field, "code": code, "detail": detail} for field, code, detail in errors]
    return problem(400, "invalid_request", INVALID_REQUEST_DETAIL, errors=listed)
