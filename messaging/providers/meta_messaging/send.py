"""Sending on the Messenger and Instagram Send API (META-SPEC §7): the rules a request must meet, and the
Graph request built from the normalised content; each send type's normaliser sits by its builder.

The content is what ``content_normalise`` returns and ``messaging.outbound`` stores in ``Message.content``
(``messaging.outbound.requests`` describes it); these functions are pure. The dispatcher posts ``body``
to ``/<version>/<page or IG id>/<path_suffix>``.

The Send API has no ``biz_opaque_callback_data``: our message id goes in ``message.metadata``, which Meta
echoes back in the ``is_echo`` event of the message (delivery and read events carry only mids).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from messaging.providers.items import MessagingPlatform
from messaging.providers.sending import (
    AUTHOR_HUMAN,
    CONTENT_VERSION,
    LabelledChoices,
    SendRequest,
    SendRule,
    SendRuleError,
    at_most,
    count_at_most,
    https,
    is_open,
    only,
)

PATH_SUFFIX = "messages"
PLATFORMS = frozenset({"messenger", "instagram"})
TYPES = ("text", "attachment")
WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
RECIPIENT_ID_MAX = 64


class MessagingType(LabelledChoices):
    RESPONSE = "RESPONSE", "A reply inside the 24-hour window"
    UPDATE = "UPDATE", "A proactive message inside the 24-hour window"
    MESSAGE_TAG = "MESSAGE_TAG", "Outside the window, with a tag"


class MessageTag(LabelledChoices):
    HUMAN_AGENT = "HUMAN_AGENT", "A person's reply, up to 7 days after the user's last message"
    CONFIRMED_EVENT_UPDATE = "CONFIRMED_EVENT_UPDATE", "Event reminder (Messenger only)"
    POST_PURCHASE_UPDATE = "POST_PURCHASE_UPDATE", "Purchase update (Messenger only)"
    ACCOUNT_UPDATE = "ACCOUNT_UPDATE", "Account update (Messenger only)"
    CUSTOMER_FEEDBACK = "CUSTOMER_FEEDBACK", "Feedback survey (Messenger only)"


INSTAGRAM_TAGS = frozenset({MessageTag.HUMAN_AGENT})


class Limit:
    """Meta's limits, in characters or items (META-SPEC §7; Instagram text per Meta's Instagram docs)."""

    MESSENGER_TEXT = 2000
    INSTAGRAM_TEXT = 1000
    QUICK_REPLIES = 13
    QUICK_REPLY_TITLE = 20
    QUICK_REPLY_PAYLOAD = 1000


def content_normalise(request: SendRequest, platform: MessagingPlatform) -> dict[str, Any]:
    """The normalised content, checked against Meta's limits."""
    message_type = request.message_type
    if message_type not in TYPES:
        raise SendRuleError(SendRule.NOT_SUPPORTED, f"{platform} has no {message_type} messages.", field="type")
    if request.context_message_id is not None:
        raise SendRuleError(SendRule.NOT_SUPPORTED, "context is for WhatsApp.", field="context")
    messaging_type, tag = _messaging_type_and_tag(platform, request)
    normaliser = _normalise_text if message_type == "text" else _normalise_attachment
    return {
        "v": CONTENT_VERSION,
        "platform": platform,
        "type": message_type,
        "messaging_type": messaging_type,
        "tag": tag,
        message_type: normaliser(request.payload, platform),
    }


def recipient_external_id(to: str) -> str:
    """The user's PSID / IGSID, as given."""
    if not to.isdigit() or len(to) > RECIPIENT_ID_MAX:
        raise SendRuleError(SendRule.RECIPIENT_INVALID, "`to` must be the user's numeric page-scoped id.", field="to")
    return to


def _messaging_type_and_tag(platform: MessagingPlatform, request: SendRequest) -> tuple[str, str | None]:
    """RESPONSE unless said otherwise; a tag alone means MESSAGE_TAG."""
    tag = request.tag
    messaging_type = request.messaging_type or (MessagingType.MESSAGE_TAG if tag else MessagingType.RESPONSE)
    if messaging_type == MessagingType.MESSAGE_TAG and not tag:
        raise SendRuleError(SendRule.TAG_REQUIRED, "messaging_type MESSAGE_TAG needs a tag.", field="tag")
    if messaging_type != MessagingType.MESSAGE_TAG and tag:
        raise SendRuleError(SendRule.TAG_NOT_ALLOWED, "A tag goes only with messaging_type MESSAGE_TAG.", field="tag")
    if tag and platform == "instagram" and tag not in INSTAGRAM_TAGS:
        raise SendRuleError(SendRule.TAG_NOT_ALLOWED, f"{tag} is not available on Instagram.", field="tag")
    return str(messaging_type), tag


def window_check(request: SendRequest, content: dict[str, Any], last_inbound_at: datetime | None, at: datetime) -> None:
    """RESPONSE/UPDATE inside 24 hours; outside, a tag (HUMAN_AGENT: human authors, up to 7 days)."""
    messaging_type, tag = content["messaging_type"], content["tag"]
    if messaging_type != MessagingType.MESSAGE_TAG:
        if not is_open(last_inbound_at, WINDOW, at):
            raise SendRuleError(
                SendRule.MESSAGING_WINDOW_CLOSED,
                f"{messaging_type} is only allowed within 24 hours of the user's last message; outside it use "
                "messaging_type MESSAGE_TAG with a tag.",
                field="messaging_type",
            )
        return
    if tag == MessageTag.HUMAN_AGENT:
        if request.author_kind != AUTHOR_HUMAN:
            raise SendRuleError(
                SendRule.HUMAN_AGENT_NOT_HUMAN, "HUMAN_AGENT is only for replies a person wrote.", field="tag"
            )
        if not is_open(last_inbound_at, HUMAN_AGENT_WINDOW, at):
            raise SendRuleError(
                SendRule.HUMAN_AGENT_WINDOW_CLOSED,
                "HUMAN_AGENT is allowed up to 7 days after the user's last message.",
                field="tag",
            )


def graph_request(message_content: dict[str, Any], *, recipient: str, callback_id: str) -> tuple[str, dict[str, Any]]:
    """(path suffix, JSON body) for one send to ``recipient`` (a PSID or IGSID).

    Raises ``ValueError`` for content this version does not know: the dispatcher fails such a message.
    """
    if message_content.get("v") != CONTENT_VERSION or message_content.get("platform") not in PLATFORMS:
        raise ValueError("not version 1 Messenger/Instagram content")
    message_type = message_content.get("type")
    if message_type == "text":
        message = _build_text(message_content["text"])
    elif message_type == "attachment":
        message = _build_attachment(message_content["attachment"])
    else:
        raise ValueError(f"unknown Messenger/Instagram send type {message_type!r}")
    message["metadata"] = callback_id
    body: dict[str, Any] = {"recipient": {"id": recipient}, "messaging_type": message_content["messaging_type"]}
    if message_content.get("tag"):
        body["tag"] = message_content["tag"]
    body["message"] = message
    return PATH_SUFFIX, body


def _normalise_text(payload: dict[str, Any], platform: str) -> dict[str, Any]:
    if payload.get("preview_url") is not None:
        raise SendRuleError(SendRule.NOT_SUPPORTED, "preview_url is for WhatsApp.", field="text.preview_url")
    limit = Limit.INSTAGRAM_TEXT if platform == "instagram" else Limit.MESSENGER_TEXT
    at_most(payload["body"], limit, "text.body")
    result: dict[str, Any] = {"body": payload["body"]}
    quick_replies = payload.get("quick_replies")
    if quick_replies:
        count_at_most(quick_replies, Limit.QUICK_REPLIES, "text.quick_replies")
        for index, reply in enumerate(quick_replies):
            at_most(reply.get("title"), Limit.QUICK_REPLY_TITLE, f"text.quick_replies[{index}].title")
            at_most(reply.get("payload"), Limit.QUICK_REPLY_PAYLOAD, f"text.quick_replies[{index}].payload")
        result["quick_replies"] = [only(reply, "content_type", "title", "payload") for reply in quick_replies]
    return result


def _build_text(text: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"text": text["body"]}
    quick_replies = text.get("quick_replies")
    if quick_replies:
        message["quick_replies"] = [_build_quick_reply(reply) for reply in quick_replies]
    return message


def _build_quick_reply(reply: dict[str, Any]) -> dict[str, Any]:
    content_type = reply.get("content_type", "text")
    if content_type != "text":
        return {"content_type": content_type}
    return {"content_type": "text", "title": reply["title"], "payload": reply["payload"]}


def _normalise_attachment(payload: dict[str, Any], _: str) -> dict[str, Any]:
    return {"type": payload["type"], "url": https(payload["url"], "attachment.url")}


def _build_attachment(attachment: dict[str, Any]) -> dict[str, Any]:
    return {"attachment": {"type": attachment["type"], "payload": {"url": attachment["url"], "is_reusable": True}}}
