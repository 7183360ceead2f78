"""WhatsApp media: reading Graph's answer to a media id lookup (META-SPEC §10). No ORM, plain values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphMedia:
    """Where a media id's file is now (the URL lives five minutes), and what Graph says of it."""

    url: str
    mime_type: str
    sha256: str | None
    file_size: int | None


def graph_media(body: object) -> GraphMedia | None:
    """The file Graph's decoded answer names; None when it names no file URL (a permanent failure)."""
    if not isinstance(body, dict) or not _text(body.get("url")):
        return None
    size = body.get("file_size")
    return GraphMedia(
        url=body["url"],
        mime_type=_text(body.get("mime_type")),
        sha256=_text(body.get("sha256")) or None,
        file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
