"""Graph request bodies for the Messenger and Instagram Send API (META-SPEC §7), from normalised content.

The content is what ``messaging.outbound`` stored in ``Message.content`` (its module docstring describes
it); these functions are pure. The dispatcher posts ``body`` to ``/<version>/<page or IG id>/<path_suffix>``.

The Send API has no ``biz_opaque_callback_data``: our message id goes in ``message.metadata``, which Meta
echoes back in the ``is_echo`` event of the message (delivery and read events carry only mids).
"""

from __future__ import annotations

from typing import Any

from messaging.providers import CONTENT_VERSION

PATH_SUFFIX = "messages"
PLATFORMS = frozenset({"messenger", "instagram"})


def graph_request(message_content: dict[str, Any], *, recipient: str, callback_id: str) -> tuple[str, dict[str, Any]]:
    """(path suffix, JSON body) for one send to ``recipient`` (a PSID or IGSID).

    Raises ``ValueError`` for content this version does not know: the dispatcher fails such a message.
    """
    if message_content.get("v") != CONTENT_VERSION or message_content.get("platform") not in PLATFORMS:
        raise ValueError("not version 1 Messenger/Instagram content")
    message_type = message_content.get("type")
    if message_type == "text":
        message = _text(message_content["text"])
    elif message_type == "attachment":
        attachment = message_content["attachment"]
        message = {
            "attachment": {"type": attachment["type"], "payload": {"url": attachment["url"], "is_reusable": True}}
        }
    else:
        raise ValueError(f"unknown Messenger/Instagram send type {message_type!r}")
    message["metadata"] = callback_id
    body: dict[str, Any] = {"recipient": {"id": recipient}, "messaging_type": message_content["messaging_type"]}
    if message_content.get("tag"):
        body["tag"] = message_content["tag"]
    body["message"] = message
    return PATH_SUFFIX, body


def _text(text: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"text": text["body"]}
    quick_replies = text.get("quick_replies")
    if quick_replies:
        message["quick_replies"] = [_quick_reply(reply) for reply in quick_replies]
    return message


def _quick_reply(reply: dict[str, Any]) -> dict[str, Any]:
    content_type = reply.get("content_type", "text")
    if content_type != "text":
        return {"content_type": content_type}
    return {"content_type": "text", "title": reply["title"], "payload": reply["payload"]}
