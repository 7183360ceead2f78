"""WhatsApp media: the file a message refers to, and Graph's answer to a media id lookup (META-SPEC §10).
No ORM, plain values."""

from __future__ import annotations

from dataclasses import dataclass

from messaging.providers.jsonread import JsonObject
from messaging.providers.media import MediaSource, text_or_empty
from messaging.providers.whatsapp import MEDIA_TYPES


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


def media_sources(content: JsonObject) -> tuple[MediaSource, ...]:
    """An ``image`` … ``sticker`` message's file, by its media id (resolved through Graph at each attempt)."""
    kind = text_or_empty(content.get("type"))
    media = content.get(kind) if kind in MEDIA_TYPES else None
    if not isinstance(media, dict) or not text_or_empty(media.get("id")):
        return ()
    sha256 = text_or_empty(media.get("sha256")) or None
    return (MediaSource(kind, media["id"], text_or_empty(media.get("mime_type")), sha256),)
