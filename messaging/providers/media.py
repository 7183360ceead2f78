"""The media a message refers to, as every adapter reports it: a file to fetch, not yet fetched. No ORM."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaSource:
    kind: str
    reference: str  # a WhatsApp media id, or a CDN URL
    mime_type: str
    expected_sha256: str | None


def text_or_empty(value: object) -> str:
    return value if isinstance(value, str) else ""
