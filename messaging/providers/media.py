"""The media a message refers to, as every adapter reports it (a file to fetch, not yet fetched), and Graph's
answer to a media lookup. No ORM."""

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


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphMedia:
    """Where a media id's file is now (the URL lives five minutes), and what Graph says of it."""

    url: str
    mime_type: str
    sha256: str | None
    file_size: int | None


def graph_media(body: object) -> GraphMedia | None:
    """The file Graph's decoded answer names; None when it names no file URL (a permanent failure)."""
    if not isinstance(body, dict) or not text_or_empty(body.get("url")):
        return None
    size = body.get("file_size")
    return GraphMedia(
        url=body["url"],
        mime_type=text_or_empty(body.get("mime_type")),
        sha256=text_or_empty(body.get("sha256")) or None,
        file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
    )
