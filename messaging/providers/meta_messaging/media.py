"""Messenger and Instagram media: the CDN files a stored message event refers to. No ORM, plain values."""

from __future__ import annotations

from messaging.providers.jsonread import JsonObject
from messaging.providers.media import MediaSource, text_or_empty

# Attachment types whose payload.url is the file itself (not a link, a template…).
MESSAGING_MEDIA_TYPES = frozenset({"image", "audio", "video", "file", "story_mention", "share", "reel", "ig_reel"})


def media_sources(content: JsonObject) -> tuple[MediaSource, ...]:
    """Every attachment's file, in order, then the story a reply answers; CDN URLs, fetched without credentials."""
    message = content.get("message")
    if not isinstance(message, dict):
        return ()
    sources = []
    attachments = message.get("attachments")
    for attachment in attachments if isinstance(attachments, list) else []:
        kind = text_or_empty(attachment.get("type")) if isinstance(attachment, dict) else ""
        payload = attachment.get("payload") if kind in MESSAGING_MEDIA_TYPES else None
        url = text_or_empty(payload.get("url")) if isinstance(payload, dict) else ""
        if url:
            sources.append(MediaSource(kind, url, "", None))
    reply_to = message.get("reply_to")
    story = reply_to.get("story") if isinstance(reply_to, dict) else None
    if isinstance(story, dict) and text_or_empty(story.get("url")):
        sources.append(MediaSource("story_reply", story["url"], "", None))
    return tuple(sources)
