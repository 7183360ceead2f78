"""The Send API of Messenger and Instagram: a send or a sender action checked, and the send's answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from simulator.graph.errors import GraphError, messenger_invalid

MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
MESSENGER_TAGS = frozenset(
    {"HUMAN_AGENT", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "CUSTOMER_FEEDBACK"}
)
INSTAGRAM_TAGS = frozenset({"HUMAN_AGENT"})
SENDER_ACTIONS = frozenset({"typing_on", "typing_off", "mark_seen"})
MESSENGER_TEXT_MAX_CHARS = 2000


@dataclass(frozen=True, slots=True)
class MessengerSend:
    recipient_id: str
    messaging_type: str
    tag: str | None
    metadata: str | None
    is_sender_action: bool


def messenger_parse(payload: dict[str, Any], *, platform: str) -> MessengerSend | GraphError:
    """Check a Send API body (Messenger or Instagram), roughly."""
    recipient = payload.get("recipient")
    recipient_id = recipient.get("id") if isinstance(recipient, dict) else None
    if not isinstance(recipient_id, (str, int)) or recipient_id == "":
        return messenger_invalid("The parameter recipient is required")
    message = payload.get("message")
    if message is None and "sender_action" in payload:
        if payload["sender_action"] not in SENDER_ACTIONS:
            return messenger_invalid("Param sender_action must be one of {typing_on, typing_off, mark_seen}")
        return MessengerSend(str(recipient_id), "RESPONSE", None, None, is_sender_action=True)
    if not isinstance(message, dict) or not (_has_messenger_text(message) or _has_attachment(message)):
        return messenger_invalid("Must send either message or sender action")
    messaging_type = payload.get("messaging_type")
    tag = payload.get("tag")
    metadata = message.get("metadata")
    error = _messaging_type_error(messaging_type, tag, platform) or _metadata_error(metadata)
    if error is not None:
        return error
    return MessengerSend(str(recipient_id), str(messaging_type), tag, metadata, is_sender_action=False)


def _metadata_error(metadata: Any) -> GraphError | None:
    if metadata is None or isinstance(metadata, str):
        return None
    return messenger_invalid("Param message[metadata] must be a string")


def _messaging_type_error(messaging_type: Any, tag: Any, platform: str) -> GraphError | None:
    if messaging_type not in MESSAGING_TYPES:
        return messenger_invalid("Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
    allowed_tags = INSTAGRAM_TAGS if platform == "instagram" else MESSENGER_TAGS
    if messaging_type == "MESSAGE_TAG" and tag not in allowed_tags:
        return messenger_invalid(f"Param tag must be one of {{{', '.join(sorted(allowed_tags))}}}")
    return None


def _has_messenger_text(message: dict[str, Any]) -> bool:
    text = message.get("text")
    return isinstance(text, str) and 0 < len(text) <= MESSENGER_TEXT_MAX_CHARS


def _has_attachment(message: dict[str, Any]) -> bool:
    attachment = message.get("attachment")
    return isinstance(attachment, dict) and isinstance(attachment.get("type"), str)


def messenger_success(*, recipient_id: str, message_id: str | None) -> bytes:
    body: dict[str, str] = {"recipient_id": recipient_id}
    if message_id is not None:
        body["message_id"] = message_id
    return json.dumps(body).encode()
