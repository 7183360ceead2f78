"""Graph request bodies for WhatsApp Cloud API sends (META-SPEC §6), from normalised content.

The content is what ``messaging.outbound`` stored in ``Message.content`` (its module docstring describes
it); these functions are pure: no ORM, no HTTP. The dispatcher posts ``body`` to
``/<version>/<phone_number_id>/<path_suffix>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from messaging.providers import CONTENT_VERSION
from messaging.providers.whatsapp import MEDIA_TYPES

PATH_SUFFIX = "messages"
SENDABLE_TYPES = frozenset({"text", "template", "interactive", "reaction", *MEDIA_TYPES})


def graph_request(message_content: dict[str, Any], *, recipient: str, callback_id: str) -> tuple[str, dict[str, Any]]:
    """(path suffix, JSON body) for one send. ``recipient`` is the contact's wa_id (digits, sent with a ``+``
    so Meta does not prepend the business number's country code) or a business-scoped user id.
    ``callback_id`` (our message id) goes in ``biz_opaque_callback_data`` and comes back in every status.

    Raises ``ValueError`` for content this version does not know: the dispatcher fails such a message.
    """
    if message_content.get("v") != CONTENT_VERSION or message_content.get("platform") != "whatsapp":
        raise ValueError("not version 1 WhatsApp content")
    message_type = message_content.get("type")
    if message_type == "mark_read":
        return PATH_SUFFIX, {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_content["mark_read"]["message_id"],
        }
    if message_type not in SENDABLE_TYPES:
        raise ValueError(f"unknown WhatsApp send type {message_type!r}")
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    body.update(_recipient_fields(recipient))
    body["type"] = message_type
    body[message_type] = _BUILDERS[message_type](message_content[message_type])
    context = message_content.get("context")
    if context is not None:
        body["context"] = {"message_id": context["message_id"]}
    body["biz_opaque_callback_data"] = callback_id
    return PATH_SUFFIX, body


def _recipient_fields(recipient: str) -> dict[str, str]:
    """A phone number (wa_id) goes in ``to`` with ``+``; a business-scoped user id in ``recipient``."""
    digits = recipient.removeprefix("+")
    if digits.isdigit():
        return {"to": f"+{digits}"}
    return {"recipient": recipient}


def _text(text: dict[str, Any]) -> dict[str, Any]:
    return {"preview_url": bool(text.get("preview_url", False)), "body": text["body"]}


def _template(template: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": template["name"],
        "language": {"policy": "deterministic", "code": template["language"]},
    }
    if template.get("components"):
        body["components"] = template["components"]
    return body


def _media(media: dict[str, Any]) -> dict[str, Any]:
    source = {"id": media["id"]} if media.get("id") else {"link": media["link"]}
    return source | {name: media[name] for name in ("caption", "filename") if media.get(name) is not None}


def _interactive(interactive: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"type": interactive["type"]}
    header = interactive.get("header")
    if header is not None:
        body["header"] = _header(header)
    body["body"] = {"text": interactive["body"]}
    if interactive.get("footer") is not None:
        body["footer"] = {"text": interactive["footer"]}
    if interactive["type"] == "button":
        body["action"] = {
            "buttons": [
                {"type": "reply", "reply": {"id": button["id"], "title": button["title"]}}
                for button in interactive["buttons"]
            ]
        }
    else:
        body["action"] = {"button": interactive["button"], "sections": interactive["sections"]}
    return body


def _header(header: dict[str, Any]) -> dict[str, Any]:
    kind = header["type"]
    if kind == "text":
        return {"type": "text", "text": header["text"]}
    source = {"id": header["id"]} if header.get("id") else {"link": header["link"]}
    return {"type": kind, kind: source}


def _reaction(reaction: dict[str, Any]) -> dict[str, Any]:
    return {"message_id": reaction["message_id"], "emoji": reaction["emoji"]}


_BUILDERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "text": _text,
    "template": _template,
    **dict.fromkeys(MEDIA_TYPES, _media),
    "interactive": _interactive,
    "reaction": _reaction,
}
