"""WhatsApp's ``/<PHONE_NUMBER_ID>/messages``: a send or a mark-as-read checked, and the send's answer."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from simulator.graph.errors import (
    GraphError,
    invalid_parameter,
    invalid_value,
    missing_parameter,
    recipient_not_supported,
)
from simulator.identity import is_bsuid

WHATSAPP_TYPES = frozenset(
    {"text", "image", "audio", "video", "document", "sticker", "template", "interactive", "reaction", "location"}
    | {"contacts"}
)
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
TEXT_MAX_CHARS = 4096
CAPTION_MAX_CHARS = 1024
CALLBACK_DATA_MAX_CHARS = 512
PHONE_PATTERN = re.compile(r"\+?[0-9][0-9 ()\-]{4,30}")
NON_DIGITS = re.compile(r"[^0-9]")
PHONE_SUCCESS = '{"messaging_product":"whatsapp","contacts":[{"input":"%s","wa_id":"%s"}],"messages":[{"id":"%s"}]}'


@dataclass(frozen=True, slots=True)
class WhatsAppSend:
    """One accepted-looking send: ``recipient`` as given, and the phone number's digits or the BSUID it names."""

    recipient: str
    wa_id: str | None
    user_id: str | None
    message_type: str
    callback_data: str | None

    @property
    def is_template(self) -> bool:
        return self.message_type == "template"


@dataclass(frozen=True, slots=True)
class WhatsAppMarkRead:
    message_id: str


def whatsapp_parse(payload: dict[str, Any], *, accepts_bsuid: bool) -> WhatsAppSend | WhatsAppMarkRead | GraphError:
    """Check a ``/<PHONE_NUMBER_ID>/messages`` body the way the Cloud API would, roughly.

    The user is ``to`` (a phone number) or, where business-scoped user ids are spoken, ``recipient`` (a BSUID).
    """
    if payload.get("messaging_product") != "whatsapp":
        return invalid_parameter("The parameter messaging_product is required and must be 'whatsapp'.")
    if "status" in payload:
        return _whatsapp_mark_read(payload)
    message_type = payload.get("type", "text")
    callback_data = payload.get("biz_opaque_callback_data")
    recipient = payload.get("recipient")
    if recipient is not None and not accepts_bsuid:
        return recipient_not_supported()
    error = (
        (_bsuid_error(recipient) if recipient is not None else _recipient_error(payload.get("to")))
        or _whatsapp_content_error(message_type, payload.get(message_type))
        or _callback_data_error(callback_data)
    )
    if error is not None:
        return error
    if recipient is not None:
        return WhatsAppSend(recipient, None, recipient, message_type, callback_data)
    to: str = payload["to"]
    return WhatsAppSend(to, NON_DIGITS.sub("", to), None, message_type, callback_data)


def _recipient_error(to: Any) -> GraphError | None:
    if not isinstance(to, str) or not to:
        return invalid_parameter("The parameter to is required.")
    if PHONE_PATTERN.fullmatch(to) is None:
        return invalid_parameter("Param to must be a phone number.")
    return None


def _bsuid_error(recipient: Any) -> GraphError | None:
    if not isinstance(recipient, str) or not is_bsuid(recipient):
        return invalid_parameter("Param recipient must be a business-scoped user id.")
    return None


def _callback_data_error(callback_data: Any) -> GraphError | None:
    if callback_data is None or (isinstance(callback_data, str) and len(callback_data) <= CALLBACK_DATA_MAX_CHARS):
        return None
    return invalid_value(f"biz_opaque_callback_data must be a string of at most {CALLBACK_DATA_MAX_CHARS} chars.")


def _whatsapp_mark_read(payload: dict[str, Any]) -> WhatsAppMarkRead | GraphError:
    message_id = payload.get("message_id")
    if payload["status"] != "read":
        return invalid_value("Param status must be 'read'.")
    if not isinstance(message_id, str) or not message_id:
        return missing_parameter("Parameter 'message_id' is required.")
    return WhatsAppMarkRead(message_id=message_id)


def _whatsapp_content_error(message_type: Any, content: Any) -> GraphError | None:  # noqa: PLR0911
    if message_type not in WHATSAPP_TYPES:
        return invalid_parameter(f"Param type must be one of {{{', '.join(sorted(WHATSAPP_TYPES))}}}.")
    if message_type == "contacts":
        return _contacts_error(content)
    if not isinstance(content, dict):
        return missing_parameter(f"Parameter '{message_type}' is required.")
    if message_type == "text":
        return _text_error(content.get("body"), f"{message_type}['body']", TEXT_MAX_CHARS)
    if message_type in MEDIA_TYPES:
        if not isinstance(content.get("id"), str) and not isinstance(content.get("link"), str):
            return missing_parameter(f"Parameter '{message_type}' requires either 'id' or 'link'.")
        caption = content.get("caption")
        return None if caption is None else _text_error(caption, f"{message_type}['caption']", CAPTION_MAX_CHARS)
    if message_type == "template":
        return _template_error(content)
    if message_type == "interactive":
        return _interactive_error(content)
    if message_type == "reaction" and not isinstance(content.get("message_id"), str):
        return missing_parameter("Parameter 'reaction['message_id']' is required.")
    if message_type == "location" and ("latitude" not in content or "longitude" not in content):
        return missing_parameter("Parameters 'location['latitude']' and 'location['longitude']' are required.")
    return None


def _contacts_error(content: Any) -> GraphError | None:
    """``contacts`` is an array of cards, each with ``name.formatted_name`` (Meta's one required field)."""
    if not isinstance(content, list) or not content:
        return missing_parameter("Parameter 'contacts' is required and must be a non-empty array.")
    for index, card in enumerate(content):
        name = card.get("name") if isinstance(card, dict) else None
        if not isinstance(name, dict) or not isinstance(name.get("formatted_name"), str) or not name["formatted_name"]:
            return missing_parameter(f"Parameter 'contacts[{index}]['name']['formatted_name']' is required.")
    return None


def _text_error(value: Any, name: str, max_chars: int) -> GraphError | None:
    if not isinstance(value, str) or not value:
        return missing_parameter(f"Parameter '{name}' is required.")
    if len(value) > max_chars:
        return invalid_parameter(f"Param {name} must be at most {max_chars} characters long.")
    return None


def _template_error(content: dict[str, Any]) -> GraphError | None:
    language = content.get("language")
    if not isinstance(content.get("name"), str) or not content["name"]:
        return missing_parameter("Parameter 'template['name']' is required.")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str):
        return missing_parameter("Parameter 'template['language']['code']' is required.")
    components = content.get("components", [])
    if not isinstance(components, list):
        return invalid_parameter("Param template['components'] must be an array.")
    return None


def _interactive_error(content: dict[str, Any]) -> GraphError | None:
    interactive_type = content.get("type")
    action = content.get("action")
    if not isinstance(interactive_type, str) or not isinstance(action, dict):
        return missing_parameter("Parameters 'interactive['type']' and 'interactive['action']' are required.")
    buttons = action.get("buttons")
    if interactive_type == "button" and (not isinstance(buttons, list) or not 1 <= len(buttons) <= 3):  # noqa: PLR2004
        return invalid_value("interactive['action']['buttons'] must hold 1 to 3 buttons.")
    return None


def whatsapp_success(*, contact: dict[str, str], wamid: str, message_status: str | None) -> bytes:
    """The send answer; ``message_status`` (``accepted``) only for templates, as Meta answers paced templates.

    The common answer (a phone number, no status) is formatted, not serialised: the input matched
    PHONE_PATTERN and the ids are digits and base64, so nothing in it needs escaping.
    """
    if message_status is None and contact.keys() == {"input", "wa_id"}:
        return (PHONE_SUCCESS % (contact["input"], contact["wa_id"], wamid)).encode()
    message = {"id": wamid} if message_status is None else {"id": wamid, "message_status": message_status}
    body = {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}
    return json.dumps(body, separators=(",", ":")).encode()
