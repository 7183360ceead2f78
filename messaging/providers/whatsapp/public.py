"""WhatsApp messages in the public vocabulary (``messaging.providers.representation``): WhatsApp's own type
names are the vocabulary's; the text is read by the parser its webhook went through, or from the send."""

from __future__ import annotations

from typing import Any

from messaging.providers.delivery import Collector
from messaging.providers.representation import (
    MessageType,
    PublicMessage,
    is_send_content,
    public_type,
    string_or_none,
)
from messaging.providers.whatsapp.contents import message_content
from messaging.providers.whatsapp.messages import CAPTIONED_MEDIA
from messaging.providers.whatsapp.types.contents import (
    ButtonReplyContent,
    EditContent,
    FlowReplyContent,
    ListReplyContent,
    MediaContent,
    MessageContent,
    OrderContent,
    SystemContent,
    TemplateButtonContent,
    TextContent,
)

# WhatsApp's names for the events about a message that the vocabulary names otherwise.
EVENT_TYPES = {"edit": MessageType.EDIT, "revoke": MessageType.UNSENT}


def message_public(message_type: str, content: object) -> PublicMessage:
    """A stored WhatsApp message (received, echoed or sent) in the public vocabulary; never raises."""
    shown_type = EVENT_TYPES.get(message_type) or public_type(message_type)
    if is_send_content(content):
        return PublicMessage(shown_type, _sent_text(message_type, content))  # type: ignore[arg-type]
    if not isinstance(content, dict) or content.get("type") != message_type:  # not a message as Meta sends it
        return PublicMessage(shown_type)
    return PublicMessage(shown_type, _received_text(message_content(content, message_type, "message", Collector())))


def _received_text(content: MessageContent) -> str | None:
    if isinstance(content, TextContent):
        return content.body
    if isinstance(content, MediaContent):
        return content.caption
    if isinstance(content, ButtonReplyContent | ListReplyContent):
        return content.title
    if isinstance(content, TemplateButtonContent | OrderContent):
        return content.text
    if isinstance(content, FlowReplyContent | SystemContent | EditContent):
        return content.body
    return None


def _sent_text(message_type: str, content: dict[str, Any]) -> str | None:
    body = content.get(message_type)
    if not isinstance(body, dict):
        return None
    if message_type in ("text", "interactive"):
        return string_or_none(body.get("body"))
    return string_or_none(body.get("caption")) if message_type in CAPTIONED_MEDIA else None


def content_edited(content: object, text: str) -> object:
    """A stored message (``InboundMessage.raw``) whose text body, or media caption, is now the edit's; anything
    else as it is."""
    if not isinstance(content, dict):
        return content
    message_type = content.get("type")
    body = content.get(message_type) if isinstance(message_type, str) else None
    if not isinstance(body, dict):
        return content
    if message_type == "text":
        return {**content, "text": {**body, "body": text}}
    if message_type in CAPTIONED_MEDIA:
        return {**content, message_type: {**body, "caption": text}}
    return content
