"""Where events may be sent: the check the API and the admin apply to an endpoint's URL."""

from __future__ import annotations

from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")


def endpoint_url_check(url: str) -> str | None:
    """Why ``url`` may not receive events, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES:
        return "refused_scheme"
    return None if parts.hostname else "refused_url"
