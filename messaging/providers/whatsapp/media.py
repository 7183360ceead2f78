"""WhatsApp media: the file a message refers to, by its Graph media id (META-SPEC §10). No ORM, plain values."""

from __future__ import annotations

from messaging.providers.jsonread import JsonObject
from messaging.providers.media import MediaSource, text_or_empty
from messaging.providers.whatsapp import MEDIA_TYPES


def media_sources(content: JsonObject) -> tuple[MediaSource, ...]:
    """An ``image`` … ``sticker`` message's file, by its media id (resolved through Graph at each attempt)."""
    kind = text_or_empty(content.get("type"))
    media = content.get(kind) if kind in MEDIA_TYPES else None
    if not isinstance(media, dict) or not text_or_empty(media.get("id")):
        return ()
    sha256 = text_or_empty(media.get("sha256")) or None
    return (MediaSource(kind, media["id"], text_or_empty(media.get("mime_type")), sha256),)
