"""The one public vocabulary of message types, shared by the REST API and the events, whatever the platform.

Each platform stores messages in its own words (WhatsApp's ``messages[].type``; Messenger's and Instagram's
event names, ``message``, ``message_edit``…; a send's type). Its adapter maps a stored type and content to a
``PublicMessage`` (``Adapter.message_public``): a type from ``MessageType`` and the text a person would read
(a text's body, a caption, a button's title). WhatsApp's names are kept where they exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from messaging.providers.jsonread import Json
from messaging.providers.sending import CONTENT_VERSION, LabelledChoices


class MessageType(LabelledChoices):
    """The public message types; labels are the documentation."""

    TEXT = "text", "Text (Messenger and Instagram: a message with text and no attachment)."
    IMAGE = "image", "An image, with an optional caption."
    VIDEO = "video", "A video, with an optional caption."
    AUDIO = "audio", "An audio file or voice note."
    DOCUMENT = "document", "A file (Messenger's and Instagram's `file` attachment)."
    STICKER = "sticker", "A sticker."
    LOCATION = "location", "A location."
    CONTACTS = "contacts", "Shared contact cards (WhatsApp)."
    INTERACTIVE = "interactive", "Buttons or a list sent, or a reply to them (WhatsApp); `text` is the choice's title."
    BUTTON = "button", "A template's quick-reply button pressed (WhatsApp); `text` is its label."
    TEMPLATE = "template", "A template message (WhatsApp) or a structured template attachment (Messenger)."
    REACTION = "reaction", "A reaction to a message, or its removal."
    EDIT = "edit", "An edit of an earlier message; `text` is the new text."
    UNSENT = "unsent", "The person unsent (Instagram) or revoked (WhatsApp) an earlier message."
    POSTBACK = "postback", "A postback button pressed (Messenger, Instagram); `text` is its title."
    REFERRAL = "referral", "The person came from an ad, a link or a QR code (Messenger, Instagram)."
    STORY_MENTION = "story_mention", "The person mentioned the account in a story (Instagram)."
    SHARE = "share", "A shared post, reel or link (Messenger, Instagram)."
    ORDER = "order", "An order from a catalogue (WhatsApp)."
    SYSTEM = "system", "A system notice, e.g. the customer changed number (WhatsApp)."
    MARK_READ = "mark_read", "A read receipt the business sent (WhatsApp)."
    UNSUPPORTED = "unsupported", "A type Meta does not deliver to the API (WhatsApp)."
    UNKNOWN = "unknown", "Anything else: kept whole in `raw` (`?include=raw`)."


_BY_NAME = {member.value: member for member in MessageType}


@dataclass(frozen=True, slots=True)
class PublicMessage:
    """A stored message as every platform shows it: its public type and its text, if any."""

    type: MessageType
    text: str | None = None


UNKNOWN_MESSAGE = PublicMessage(MessageType.UNKNOWN)


def public_type(name: str) -> MessageType:
    """The public type of that name, or ``unknown``."""
    return _BY_NAME.get(name, MessageType.UNKNOWN)


def is_send_content(content: object) -> bool:
    """Whether stored content is a send request as the gateway normalised it (``messaging.outbound``), rather
    than an object a platform delivered."""
    return isinstance(content, dict) and content.get("v") == CONTENT_VERSION and "platform" in content


def raw_object(content: Json) -> Json:
    """The platform's own object of a stored message: what a webhook delivered (a message received, an echo),
    or None for a send the gateway made (its content is the request)."""
    return None if is_send_content(content) else content


def string_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
