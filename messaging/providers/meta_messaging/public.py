"""Messenger and Instagram messages in the public vocabulary (``messaging.providers.representation``): a
message is named by its attachment (``file`` is a ``document``, a sticker image a ``sticker``) or is a
``text``; the events about a message keep their own names. A stored event is read by the parser its webhook
went through; a send from its normalised content."""

from __future__ import annotations

from typing import Any

from messaging.providers.items import MessagingPlatform
from messaging.providers.meta_messaging.parse import stored_event
from messaging.providers.meta_messaging.types import (
    Attachment,
    MessagingEdit,
    MessagingEvent,
    MessagingMessage,
    MessagingPostback,
    MessagingReaction,
    MessagingReferral,
    MessagingUnsent,
)
from messaging.providers.representation import (
    MessageType,
    PublicMessage,
    is_send_content,
    public_type,
    string_or_none,
)

ATTACHMENT_TYPES = {
    "image": MessageType.IMAGE,
    "video": MessageType.VIDEO,
    "audio": MessageType.AUDIO,
    "file": MessageType.DOCUMENT,
    "location": MessageType.LOCATION,
    "template": MessageType.TEMPLATE,
    "story_mention": MessageType.STORY_MENTION,
    "share": MessageType.SHARE,
    "fallback": MessageType.SHARE,
    "reel": MessageType.SHARE,
    "ig_reel": MessageType.SHARE,
}
# The stored names of events about a message (``MessagingItem.kind``), for content no longer readable.
STORED_TYPES = {
    "message_edit": MessageType.EDIT,
    "message_unsent": MessageType.UNSENT,
    "postback": MessageType.POSTBACK,
    "referral": MessageType.REFERRAL,
    "reaction": MessageType.REACTION,
    "text": MessageType.TEXT,
}
EVENT_TYPES: dict[type[MessagingEvent], MessageType] = {
    MessagingEdit: MessageType.EDIT,
    MessagingUnsent: MessageType.UNSENT,
    MessagingPostback: MessageType.POSTBACK,
    MessagingReferral: MessageType.REFERRAL,
    MessagingReaction: MessageType.REACTION,
}


def message_public(message_type: str, content: object, platform: MessagingPlatform) -> PublicMessage:
    """A stored Messenger or Instagram message (received, echoed or sent) in the public vocabulary; never raises."""
    if is_send_content(content):
        return _sent(message_type, content)  # type: ignore[arg-type]
    item = stored_event(content, platform=platform) if isinstance(content, dict) else None
    if item is None:
        return PublicMessage(STORED_TYPES.get(message_type, MessageType.UNKNOWN))
    if isinstance(item, MessagingMessage):
        return PublicMessage(_message_type(item), item.text)
    text = item.title if isinstance(item, MessagingPostback) else item.text if isinstance(item, MessagingEdit) else None
    return PublicMessage(EVENT_TYPES.get(type(item), MessageType.UNKNOWN), text)


def _message_type(message: MessagingMessage) -> MessageType:
    """Named by its first attachment, else a text; a message with neither (an echo Meta trimmed) is unknown."""
    if message.attachments:
        return _attachment_type(message.attachments[0])
    return MessageType.TEXT if message.text is not None else MessageType.UNKNOWN


def _attachment_type(attachment: Attachment) -> MessageType:
    if attachment.type == "image" and attachment.payload and attachment.payload.get("sticker_id") is not None:
        return MessageType.STICKER
    return ATTACHMENT_TYPES.get(attachment.type, MessageType.UNKNOWN)


def _sent(message_type: str, content: dict[str, Any]) -> PublicMessage:
    body = content.get(message_type)
    if not isinstance(body, dict):
        return PublicMessage(public_type(message_type))
    if message_type == "attachment":
        return PublicMessage(ATTACHMENT_TYPES.get(str(body.get("type")), MessageType.UNKNOWN))
    return PublicMessage(public_type(message_type), string_or_none(body.get("body")))


def content_edited(content: object, text: str) -> object:
    """A stored event (``MessagingItem.raw``) whose ``message`` now says the edit's text; anything else as it is."""
    if not isinstance(content, dict) or not isinstance(content.get("message"), dict):
        return content
    return {**content, "message": {**content["message"], "text": text}}
