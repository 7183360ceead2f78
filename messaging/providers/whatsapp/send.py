"""Sending on the WhatsApp Cloud API (META-SPEC §6): the rules a request must meet, and the Graph request
built from the normalised content.

The content is what ``content_normalise`` returns and ``messaging.outbound`` stores in ``Message.content``
(``messaging.outbound.requests`` describes it); these functions are pure: no ORM, no HTTP. The dispatcher
posts ``body`` to ``/<version>/<phone_number_id>/<path_suffix>``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.phones import normalize_e164
from messaging.providers.sending import CONTENT_VERSION, SendRequest, SendRule, SendRuleError, is_open
from messaging.providers.whatsapp.messages import BUILDERS, NORMALISERS, TYPES

PATH_SUFFIX = "messages"
WINDOW = timedelta(hours=24)
# Outside the customer service window: templates only; marking as read is not a message.
OUTSIDE_WINDOW_TYPES = frozenset({"template", "mark_read"})


def content_normalise(request: SendRequest) -> dict[str, Any]:
    """The normalised content, checked against Meta's limits; message ids the request names are gateway
    ids here, resolved to Meta's by the caller."""
    message_type = request.message_type
    if message_type not in TYPES:
        raise SendRuleError(SendRule.NOT_SUPPORTED, f"WhatsApp has no {message_type} messages.", field="type")
    for name, value in (("messaging_type", request.messaging_type), ("tag", request.tag)):
        if value:
            raise SendRuleError(SendRule.NOT_SUPPORTED, f"{name} is for Messenger and Instagram.", field=name)
    body = NORMALISERS[message_type](request.payload, message_type)
    content: dict[str, Any] = {"v": CONTENT_VERSION, "platform": "whatsapp", "type": message_type}
    content[message_type] = body
    return content


def recipient_external_id(to: str) -> str:
    """The wa_id for ``to`` (digits, as webhooks name the person)."""
    try:
        return normalize_e164(to).removeprefix("+")
    except ValueError:
        raise SendRuleError(
            SendRule.RECIPIENT_INVALID, "`to` must be a phone number with its country code.", field="to"
        ) from None


def window_check(request: SendRequest, content: dict[str, Any], last_inbound_at: datetime | None, at: datetime) -> None:
    """The 24-hour customer service window, judged at ``at``."""
    if request.message_type in OUTSIDE_WINDOW_TYPES:
        return
    if not is_open(last_inbound_at, WINDOW, at):
        raise SendRuleError(
            SendRule.WHATSAPP_WINDOW_CLOSED,
            "The 24-hour customer service window is closed (the contact has not written in the last 24 hours): "
            "send an approved template instead.",
        )


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
    if message_type not in BUILDERS:
        raise ValueError(f"unknown WhatsApp send type {message_type!r}")
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    body.update(_recipient_fields(recipient))
    body["type"] = message_type
    body[message_type] = BUILDERS[message_type](message_content[message_type])
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
