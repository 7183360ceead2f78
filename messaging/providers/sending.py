"""What every platform's send rules share: the request, the rule codes and errors, and small checks.

``Message.content`` holds a send request checked and normalised by its platform's adapter (version
``CONTENT_VERSION``, described in ``messaging.outbound.requests``); each adapter's ``graph_request``
reads only this version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import EnumType, StrEnum
from typing import Any, Self
from urllib.parse import urlsplit

CONTENT_VERSION = 1

AUTHOR_HUMAN = "human"
AUTHOR_SYSTEM = "system"


class _ChoicesType(EnumType):
    @property
    def values(cls) -> list[str]:
        return [member.value for member in cls]  # type: ignore[var-annotated]

    @property
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.label) for member in cls]  # type: ignore[var-annotated]


class LabelledChoices(StrEnum, metaclass=_ChoicesType):
    """A str enum whose members carry a label, read like Django's TextChoices (``values``, ``choices``,
    ``label``) without importing the ORM."""

    label: str

    def __new__(cls, value: str, label: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member


class SendRule(LabelledChoices):
    """The stable codes of the rules a send can break (422 ``rule``). Labels are the documentation."""

    CHANNEL_PAUSED = "channel_paused", "The channel is paused (e.g. after a token or account error)."
    CONTACT_OPTED_OUT = "contact_opted_out", "The contact opted out; only marking as read is allowed."
    CONTACT_ERASED = "contact_erased", "The contact was erased; it cannot be messaged."
    CONTACT_PLATFORM_MISMATCH = "contact_platform_mismatch", "The contact is on another platform than the channel."
    RECIPIENT_INVALID = (
        "recipient_invalid",
        "`to` is not a phone number with country code, or not a numeric PSID/IGSID.",
    )
    NOT_SUPPORTED = "not_supported", "This type or field is not available on this platform or for this type."
    WHATSAPP_WINDOW_CLOSED = "whatsapp_window_closed", "Over 24 hours since the contact last wrote: templates only."
    MESSAGING_WINDOW_CLOSED = "messaging_window_closed", "RESPONSE/UPDATE only within 24 hours of the user's message."
    TAG_REQUIRED = "tag_required", "messaging_type MESSAGE_TAG needs a tag."
    TAG_NOT_ALLOWED = "tag_not_allowed", "A tag goes only with MESSAGE_TAG; Instagram takes only HUMAN_AGENT."
    HUMAN_AGENT_NOT_HUMAN = "human_agent_not_human", "HUMAN_AGENT is only for messages a person wrote (author human)."
    HUMAN_AGENT_WINDOW_CLOSED = "human_agent_window_closed", "HUMAN_AGENT only up to 7 days after the user wrote."
    TOO_LONG = "too_long", "A text is longer than Meta allows; `field` names it."
    TOO_MANY = "too_many", "A list has more items than Meta allows; `field` names it."
    LINK_NOT_HTTPS = "link_not_https", "Media links must be https URLs."
    TARGET_MESSAGE_NOT_FOUND = "target_message_not_found", "The message named is not in this conversation."
    TARGET_MESSAGE_NOT_SENT = "target_message_not_sent", "That message has no Meta id yet (not accepted by Meta)."
    TARGET_MESSAGE_NOT_INBOUND = "target_message_not_inbound", "Only messages the contact sent can be marked as read."
    SEND_AT_OUT_OF_RANGE = "send_at_out_of_range", "The send time must be in the future and at most 30 days ahead."
    TEMPLATE_NOT_FOUND = (
        "template_not_found",
        "No template of that name and language is known for the channel's WhatsApp Business Account (sync them).",
    )
    TEMPLATE_NOT_APPROVED = (
        "template_not_approved",
        "The template is not approved in that language (pending, rejected…).",
    )
    TEMPLATE_PAUSED = "template_paused", "Meta paused the template after low-quality feedback."
    TEMPLATE_DISABLED = "template_disabled", "Meta disabled the template for repeated low quality."
    TEMPLATE_PARAMETER_MISMATCH = (
        "template_parameter_mismatch",
        "The parameters do not match the template's variables (count, names, or a component it lacks).",
    )
    TEMPLATE_PARAMETER_TYPE = "template_parameter_type", "A parameter's type does not fit its place in the template."
    TEMPLATE_HEADER_MEDIA_REQUIRED = (
        "template_header_media_required",
        "The template's header is an image, video, document or location: the send must give it.",
    )


class SendRuleError(Exception):
    """A send request that breaks a rule: nothing was written."""

    def __init__(self, rule: SendRule, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail
        self.field = field


@dataclass(frozen=True, kw_only=True)
class SendRequest:
    """A send request whose shape the API checked; ``payload`` is the object named by the type."""

    channel_id: uuid.UUID
    message_type: str
    payload: dict[str, Any]
    contact_id: uuid.UUID | None = None
    to: str | None = None
    context_message_id: uuid.UUID | None = None
    messaging_type: str | None = None
    tag: str | None = None
    author_kind: str = AUTHOR_SYSTEM
    send_at: datetime | None = None


def at_most(value: str | None, limit: int, field: str) -> None:
    if value is not None and len(value) > limit:
        raise SendRuleError(SendRule.TOO_LONG, f"{field} is longer than {limit} characters.", field=field)


def count_at_most(items: list[Any], limit: int, field: str) -> None:
    if len(items) > limit:
        raise SendRuleError(SendRule.TOO_MANY, f"{field} holds more than {limit} items.", field=field)


def https(link: str, field: str) -> str:
    parts = urlsplit(link)
    if parts.scheme != "https" or not parts.netloc:
        raise SendRuleError(SendRule.LINK_NOT_HTTPS, f"{field} must be an https URL.", field=field)
    return link


def only(payload: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: payload[name] for name in names if payload.get(name) is not None}


def is_open(last_inbound_at: datetime | None, window: timedelta, at: datetime) -> bool:
    return last_inbound_at is not None and at < last_inbound_at + window
