"""Graph API request validation and real-shaped success and error bodies (META-SPEC §6-8).

Validation is deliberately rough: enough to catch a malformed body the way Meta would, cheap enough to
run on every request of a benchmark (plain dict checks, no schema library).
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from simulator.identity import is_bsuid
from simulator.state import Channel

WHATSAPP_TYPES = frozenset(
    {"text", "image", "audio", "video", "document", "sticker", "template", "interactive", "reaction", "location"}
    | {"contacts"}
)
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
MESSENGER_TAGS = frozenset(
    {"HUMAN_AGENT", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "CUSTOMER_FEEDBACK"}
)
INSTAGRAM_TAGS = frozenset({"HUMAN_AGENT"})
SENDER_ACTIONS = frozenset({"typing_on", "typing_off", "mark_seen"})
TEXT_MAX_CHARS = 4096
CAPTION_MAX_CHARS = 1024
MESSENGER_TEXT_MAX_CHARS = 2000
CALLBACK_DATA_MAX_CHARS = 512
PHONE_PATTERN = re.compile(r"\+?[0-9][0-9 ()\-]{4,30}")
NON_DIGITS = re.compile(r"[^0-9]")


def fbtrace_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(17)).decode()[:23]


@dataclass(frozen=True, slots=True)
class GraphError:
    """One Graph error: the HTTP status and the ``{"error": {...}}`` body Meta would answer with."""

    http_status: int
    code: int
    message: str
    error_type: str = "OAuthException"
    details: str | None = None
    subcode: int | None = None
    messaging_product: str | None = "whatsapp"
    is_transient: bool | None = None

    def body(self) -> bytes:
        error: dict[str, Any] = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.details is not None:
            error["error_data"] = (
                {"messaging_product": self.messaging_product, "details": self.details}
                if self.messaging_product
                else {"details": self.details}
            )
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        error["fbtrace_id"] = fbtrace_id()
        return json.dumps({"error": error}).encode()


def bad_token() -> GraphError:
    return GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token", messaging_product=None)


def unknown_node(node: str, method: str = "POST") -> GraphError:
    message = (
        f"Unsupported {method.lower()} request. Object with ID '{node}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api"
    )
    return GraphError(400, 100, message, error_type="GraphMethodException", subcode=33, messaging_product=None)


def unknown_path(path: str) -> GraphError:
    """Graph's answer to a path it has no route for: JSON like every other error, never a plain-text 404."""
    message = f"Unknown path components: {path}"
    return GraphError(400, 2500, message, messaging_product=None)


def unsupported_method(method: str, path: str) -> GraphError:
    message = f"Unsupported {method.lower()} request. The path {path} does not support this operation."
    return GraphError(400, 100, message, error_type="GraphMethodException", messaging_product=None)


def invalid_parameter(details: str, *, messaging_product: str | None = "whatsapp") -> GraphError:
    return GraphError(400, 100, "(#100) Invalid parameter", details=details, messaging_product=messaging_product)


def missing_parameter(details: str) -> GraphError:
    return GraphError(400, 131008, "(#131008) Required parameter is missing", details=details)


def invalid_value(details: str) -> GraphError:
    return GraphError(400, 131009, "(#131009) Parameter value is not valid", details=details)


def throughput_reached() -> GraphError:
    return GraphError(400, 130429, "(#130429) Rate limit hit", details="Cloud API message throughput has been reached.")


def pair_rate_reached() -> GraphError:
    details = (
        "Message failed to send because there were too many messages sent from this phone number to the same "
        "phone number in a short period of time."
    )
    return GraphError(
        400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit", details=details
    )


def outside_window() -> GraphError:
    details = (
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number."
    )
    return GraphError(400, 131047, "(#131047) Re-engagement message", details=details)


def messenger_outside_window() -> GraphError:
    message = (
        "(#10) This message is sent outside of allowed window. Learn more about the new policy here: "
        "https://developers.facebook.com/docs/messenger-platform/policy-overview"
    )
    return GraphError(400, 10, message, subcode=2018278, messaging_product=None)


def messenger_rate_limited() -> GraphError:
    return GraphError(400, 613, "(#613) Calls to this API have exceeded the rate limit.", messaging_product=None)


def messenger_invalid(message: str) -> GraphError:
    return GraphError(400, 100, f"(#100) {message}", messaging_product=None)


def server_error(http_status: int) -> GraphError:
    message = "An unexpected error has occurred. Please retry your request later."
    return GraphError(http_status, 2, message, messaging_product=None, is_transient=True)


def media_not_found(media_id: str, method: str) -> GraphError:
    return unknown_node(media_id, method)


def invalid_read_receipt(message_id: str) -> GraphError:
    """Mark-as-read of an id that is no inbound message of this number; the id is not echoed back."""
    del message_id
    return invalid_value("Invalid message_id: it is not the id of a message this phone number received.")


def recipient_not_supported() -> GraphError:
    return invalid_parameter("Param recipient (a business-scoped user id) is not available for this phone number.")


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


@dataclass(frozen=True, slots=True)
class MessengerSend:
    recipient_id: str
    messaging_type: str
    tag: str | None
    metadata: str | None
    is_sender_action: bool


def parse_json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


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


PHONE_SUCCESS = '{"messaging_product":"whatsapp","contacts":[{"input":"%s","wa_id":"%s"}],"messages":[{"id":"%s"}]}'


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


def messenger_success(*, recipient_id: str, message_id: str | None) -> bytes:
    body: dict[str, str] = {"recipient_id": recipient_id}
    if message_id is not None:
        body["message_id"] = message_id
    return json.dumps(body).encode()


HIGH_THROUGHPUT_MPS = 1000


def phone_number_node(channel: Channel) -> dict[str, Any]:
    """``GET /<PHONE_NUMBER_ID>``: the phone number object (META-SPEC §9 reads ``throughput`` from it)."""
    return {
        "verified_name": "Simulated Business",
        "code_verification_status": "VERIFIED",
        "display_phone_number": channel.display_phone_number,
        "quality_rating": "GREEN",
        "platform_type": "CLOUD_API",
        "throughput": {"level": "HIGH" if channel.mps >= HIGH_THROUGHPUT_MPS else "STANDARD"},
        "is_on_biz_app": channel.is_coexistence,
        "id": channel.provider_id,
    }


def page_node(channel: Channel) -> dict[str, Any]:
    return {"name": "Simulated Page", "id": channel.provider_id}
