"""Sending: check a send request against Meta's rules, then queue it (message + outbox row, one transaction).

The dispatcher (``messaging.dispatch``, task ``outbound.send``) takes it from there. What it reads is
``Message.content``: the request, checked and normalised, in the shape below. The Graph bodies are built
from it by ``messaging.providers.whatsapp.send.graph_request`` and
``messaging.providers.meta_messaging.send.graph_request`` (pure functions).

Normalised content (``Message.content``, sealed like any content; version ``"v": 1``)
--------------------------------------------------------------------------------------
Every send: ``{"v": 1, "platform": "whatsapp" | "messenger" | "instagram", "type": <the send type>, ...}``;
``type`` is also ``Message.message_type``. Message ids inside are Meta's (wamid / mid), already looked up
from the gateway ids the request named.

WhatsApp, one key named like the type::

    "text":        {"body": str, "preview_url": bool}
    "template":    {"name": str, "language": str, "components": [<Graph template component objects>]}
    "image" | "video":         {"id": str} or {"link": "https://…"}, plus optional "caption"
    "audio" | "sticker":       {"id": str} or {"link": "https://…"}
    "document":    {"id"} or {"link"}, plus optional "caption", "filename"
    "interactive": {"type": "button", "body": str, "buttons": [{"id": str, "title": str}],
                    "header"?: {"type": "text", "text": str} | {"type": "image"|"video"|"document", "id"|"link": str},
                    "footer"?: str}
                   {"type": "list", "body": str, "button": str,
                    "sections": [{"title"?: str, "rows": [{"id": str, "title": str, "description"?: str}]}],
                    "header"?: {"type": "text", "text": str}, "footer"?: str}
    "reaction":    {"message_id": <wamid>, "emoji": str}   ("" removes a reaction)
    "mark_read":   {"message_id": <wamid of an inbound message>}
    optional "context": {"message_id": <wamid>}    (a reply to that message; not with reaction / mark_read)

Messenger and Instagram::

    "messaging_type": "RESPONSE" | "UPDATE" | "MESSAGE_TAG",  "tag": str | None
    "text":        {"body": str, "quick_replies"?: [{"content_type": "text", "title": str, "payload": str}
                                                    | {"content_type": "user_phone_number" | "user_email"}]}
    "attachment":  {"type": "image" | "audio" | "video" | "file", "url": "https://…"}

Rules (a broken rule is a ``SendRuleError`` with a stable code from ``SendRule``; the API answers 422)
------------------------------------------------------------------------------------------------------
Channel paused; contact opted out (marking as read still allowed) or erased; WhatsApp 24-hour customer
service window from ``Conversation.last_inbound_at`` (outside it only templates; mark-as-read is not a
message); Messenger/Instagram: ``RESPONSE``/``UPDATE`` inside 24 hours, outside only ``MESSAGE_TAG`` with a
tag, ``HUMAN_AGENT`` only for human authors and up to 7 days, other tags not on Instagram (META-SPEC §7).
Windows are judged at the time of sending (``send_at`` or now) with what is known now. Meta's size limits
(META-SPEC §6-7) are checked here so that a send is refused at once rather than failed by Meta later.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import TextChoices
from django.utils import timezone

from accounts.models import Tenant
from core.tasks import enqueue_by_name_on_commit
from encryption.blind_index import blind_index_filter, normalize_e164
from encryption.errors import DecryptionError
from messaging.contacts import ContactWanted, contacts_resolve, conversation_for
from messaging.dispatch import SEND_TASK
from messaging.lifetimes import lifetimes_for, message_stamp
from messaging.models import (
    AuthorKind,
    Channel,
    ChannelStatus,
    Contact,
    Conversation,
    Direction,
    IdempotencyRecord,
    Message,
    MessageStatus,
    OutboxEntry,
    Platform,
)
from messaging.providers import CONTENT_VERSION
from messaging.providers.whatsapp import MEDIA_TYPES as WHATSAPP_MEDIA_TYPES

logger = logging.getLogger(__name__)

WHATSAPP_WINDOW = timedelta(hours=24)
MESSAGING_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
SEND_AT_MAX_AHEAD = timedelta(days=30)

WHATSAPP_TYPES = ("text", "template", *WHATSAPP_MEDIA_TYPES, "interactive", "reaction", "mark_read")
MESSAGING_TYPES = ("text", "attachment")
SEND_TYPES = tuple(dict.fromkeys((*WHATSAPP_TYPES, *MESSAGING_TYPES)))
CAPTIONED_MEDIA = frozenset({"image", "video", "document"})


class MessagingType(TextChoices):
    RESPONSE = "RESPONSE", "A reply inside the 24-hour window"
    UPDATE = "UPDATE", "A proactive message inside the 24-hour window"
    MESSAGE_TAG = "MESSAGE_TAG", "Outside the window, with a tag"


class MessageTag(TextChoices):
    HUMAN_AGENT = "HUMAN_AGENT", "A person's reply, up to 7 days after the user's last message"
    CONFIRMED_EVENT_UPDATE = "CONFIRMED_EVENT_UPDATE", "Event reminder (Messenger only)"
    POST_PURCHASE_UPDATE = "POST_PURCHASE_UPDATE", "Purchase update (Messenger only)"
    ACCOUNT_UPDATE = "ACCOUNT_UPDATE", "Account update (Messenger only)"
    CUSTOMER_FEEDBACK = "CUSTOMER_FEEDBACK", "Feedback survey (Messenger only)"


INSTAGRAM_TAGS = frozenset({MessageTag.HUMAN_AGENT})


class Limit:
    """Meta's limits, in characters or items (META-SPEC §6-7; Instagram text per Meta's Instagram docs)."""

    TEXT = 4096
    CAPTION = 1024
    FILENAME = 240
    TEMPLATE_NAME = 512
    INTERACTIVE_BODY = 1024
    HEADER_TEXT = 60
    FOOTER = 60
    BUTTONS = 3
    BUTTON_TITLE = 20
    BUTTON_ID = 256
    LIST_BUTTON = 20
    LIST_SECTIONS = 10
    LIST_ROWS = 10
    SECTION_TITLE = 24
    ROW_ID = 200
    ROW_TITLE = 24
    ROW_DESCRIPTION = 72
    EMOJI = 16
    MESSENGER_TEXT = 2000
    INSTAGRAM_TEXT = 1000
    QUICK_REPLIES = 13
    QUICK_REPLY_TITLE = 20
    QUICK_REPLY_PAYLOAD = 1000


class SendRule(TextChoices):
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
    SEND_AT_OUT_OF_RANGE = "send_at_out_of_range", "send_at must be in the future and at most 30 days ahead."


class SendRuleError(Exception):
    """A send request that breaks a rule: nothing was written."""

    def __init__(self, rule: SendRule, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail
        self.field = field


class SendReferenceNotFoundError(LookupError):
    """The channel or contact named is not the tenant's (or does not exist): the API answers 404."""

    def __init__(self, what: str) -> None:
        super().__init__(f"no such {what} in this tenant")
        self.what = what


class IdempotencyKeyTakenError(Exception):
    """Another request with the same Idempotency-Key committed first; this one wrote nothing."""


class MessageNotCancellableError(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"the message is {status}, not queued")
        self.status = status


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
    author_kind: str = AuthorKind.SYSTEM
    send_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class IdempotencyClaim:
    key: str
    request_sha256: str


@dataclass(slots=True)
class _Recipient:
    """Who the send is for: an existing contact, or the one to create once every rule passed."""

    contact: Contact | None
    wanted: ContactWanted | None = None
    conversation: Conversation | None = field(default=None)

    @property
    def last_inbound_at(self) -> datetime | None:
        return self.conversation.last_inbound_at if self.conversation else None


# --- The service ----------------------------------------------------------------------------------


def message_send(
    *, tenant: Tenant, request: SendRequest, idempotency: IdempotencyClaim | None = None, now: datetime | None = None
) -> Message:
    """Check ``request`` and queue it: Message(queued) + OutboxEntry in one transaction, published on commit.

    A scheduled send (``send_at``) is not published: the outbox relay publishes it when due. With an
    ``idempotency`` claim, the key is taken in the same transaction, so concurrent duplicates give one
    message; the loser raises ``IdempotencyKeyTakenError`` having written nothing.
    """
    now = now or timezone.now()
    channel = _channel_of(tenant, request.channel_id)
    if channel.status != ChannelStatus.ACTIVE:
        raise SendRuleError(SendRule.CHANNEL_PAUSED, "The channel is paused; sending resumes when it is reactivated.")
    sending_at = _send_at_check(request.send_at, now)
    content = content_normalise(platform=channel.platform, request=request)
    recipient = _recipient_of(tenant, channel, request)
    _recipient_check(recipient, request)
    _window_check(channel.platform, request, content, recipient.last_inbound_at, sending_at)
    _targets_resolve(content, request, recipient.conversation)
    with transaction.atomic():
        if idempotency is not None:
            _idempotency_take(tenant, idempotency)
        message = _queue(channel, recipient, request, content, now)
        if idempotency is not None:
            IdempotencyRecord.objects.filter(tenant=tenant, key=idempotency.key).update(
                response_status=202, response_body=send_receipt(message)
            )
        if request.send_at is None:
            enqueue_by_name_on_commit(
                SEND_TASK, message.pk, on_published=functools.partial(_outbox_mark_published, message.pk)
            )
    logger.info(
        "message queued",
        extra={"message_id": str(message.pk), "channel_id": str(channel.pk), "scheduled": request.send_at is not None},
    )
    return message


def message_cancel(*, tenant: Tenant, message_id: uuid.UUID) -> Message:
    """queued → cancelled by a conditional update (scheduled ones too); a message a worker leased is not queued.

    Raises ``Message.DoesNotExist`` for another tenant's or unknown id, ``MessageNotCancellableError`` otherwise.
    """
    now = timezone.now()
    with transaction.atomic():
        cancelled = Message.objects.filter(
            pk=message_id, tenant=tenant, direction=Direction.OUTBOUND, status=MessageStatus.QUEUED
        ).update(status=MessageStatus.CANCELLED, next_attempt_at=None, updated_at=now)
        if not cancelled:
            status = Message.objects.filter(pk=message_id, tenant=tenant).values_list("status", flat=True).first()
            if status is None:
                raise Message.DoesNotExist
            raise MessageNotCancellableError(status)
        OutboxEntry.objects.filter(message_id=message_id).delete()
    logger.info("message cancelled", extra={"message_id": str(message_id)})
    return Message.objects.get(pk=message_id)


def send_receipt(message: Message) -> dict[str, Any]:
    """The 202 body (and what an idempotent replay answers): ids, type and status, never content."""
    return {
        "id": str(message.pk),
        "status": message.status,
        "type": message.message_type,
        "channel": str(message.channel_id),
        "contact": str(message.contact_id),
        "conversation": str(message.conversation_id),
        "author": message.author_kind,
        "send_at": _iso(message.send_at),
        "created_at": _iso(message.created_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- Lookups ---------------------------------------------------------------------------------------


def _channel_of(tenant: Tenant, channel_id: uuid.UUID) -> Channel:
    channel: Channel | None = Channel.objects.filter(tenant=tenant, pk=channel_id).defer("access_token").first()
    if channel is None:
        raise SendReferenceNotFoundError("channel")
    return channel


def _recipient_of(tenant: Tenant, channel: Channel, request: SendRequest) -> _Recipient:
    if request.contact_id is not None:
        contact = Contact.objects.filter(tenant=tenant, pk=request.contact_id).first()
        if contact is None:
            raise SendReferenceNotFoundError("contact")
        if contact.platform != channel.platform:
            raise SendRuleError(
                SendRule.CONTACT_PLATFORM_MISMATCH,
                f"The contact is on {contact.platform}, the channel on {channel.platform}.",
                field="contact_id",
            )
        wanted = None
    else:
        external_id = recipient_external_id(channel.platform, request.to or "")
        query = blind_index_filter(Contact, "external_id_index", tenant_id=tenant.pk, value=external_id)
        contact = Contact.objects.filter(query, tenant=tenant, platform=channel.platform).first()
        wanted = ContactWanted(channel=channel, external_id=external_id)
    conversation = None if contact is None else Conversation.objects.filter(channel=channel, contact=contact).first()
    return _Recipient(contact=contact, wanted=wanted, conversation=conversation)


def recipient_external_id(platform: str, to: str) -> str:
    """The contact's platform id for ``to``: a wa_id (digits, as webhooks name the person) or a PSID/IGSID."""
    if platform == Platform.WHATSAPP:
        try:
            return normalize_e164(to).removeprefix("+")
        except ValueError:
            raise SendRuleError(
                SendRule.RECIPIENT_INVALID, "`to` must be a phone number with its country code.", field="to"
            ) from None
    if not to.isdigit() or len(to) > 64:  # noqa: PLR2004
        raise SendRuleError(SendRule.RECIPIENT_INVALID, "`to` must be the user's numeric page-scoped id.", field="to")
    return to


def _recipient_check(recipient: _Recipient, request: SendRequest) -> None:
    contact = recipient.contact
    if contact is None:
        return
    try:
        contact.external_id  # noqa: B018 - opening it is the check
    except DecryptionError:
        raise SendRuleError(SendRule.CONTACT_ERASED, "The contact was erased.") from None
    if contact.is_opted_out and request.message_type != "mark_read":
        raise SendRuleError(SendRule.CONTACT_OPTED_OUT, "The contact opted out of messages.")


# --- Windows and tags ----------------------------------------------------------------------------


def _send_at_check(send_at: datetime | None, now: datetime) -> datetime:
    """The moment the send is meant for; windows are judged then."""
    if send_at is None:
        return now
    if send_at <= now or send_at > now + SEND_AT_MAX_AHEAD:
        raise SendRuleError(
            SendRule.SEND_AT_OUT_OF_RANGE, "send_at must be in the future and at most 30 days ahead.", field="send_at"
        )
    return send_at


def _is_open(last_inbound_at: datetime | None, window: timedelta, at: datetime) -> bool:
    return last_inbound_at is not None and at < last_inbound_at + window


def _window_check(
    platform: str, request: SendRequest, content: dict[str, Any], last_inbound_at: datetime | None, at: datetime
) -> None:
    if platform == Platform.WHATSAPP:
        if request.message_type in {"template", "mark_read"}:
            return
        if not _is_open(last_inbound_at, WHATSAPP_WINDOW, at):
            raise SendRuleError(
                SendRule.WHATSAPP_WINDOW_CLOSED,
                "The 24-hour customer service window is closed (the contact has not written in the last 24 hours): "
                "send an approved template instead.",
            )
        return
    messaging_type, tag = content["messaging_type"], content["tag"]
    if messaging_type != MessagingType.MESSAGE_TAG:
        if not _is_open(last_inbound_at, MESSAGING_WINDOW, at):
            raise SendRuleError(
                SendRule.MESSAGING_WINDOW_CLOSED,
                f"{messaging_type} is only allowed within 24 hours of the user's last message; outside it use "
                "messaging_type MESSAGE_TAG with a tag.",
                field="messaging_type",
            )
        return
    if tag == MessageTag.HUMAN_AGENT:
        if request.author_kind != AuthorKind.HUMAN:
            raise SendRuleError(
                SendRule.HUMAN_AGENT_NOT_HUMAN, "HUMAN_AGENT is only for replies a person wrote.", field="tag"
            )
        if not _is_open(last_inbound_at, HUMAN_AGENT_WINDOW, at):
            raise SendRuleError(
                SendRule.HUMAN_AGENT_WINDOW_CLOSED,
                "HUMAN_AGENT is allowed up to 7 days after the user's last message.",
                field="tag",
            )


def _messaging_type_and_tag(platform: str, request: SendRequest) -> tuple[str, str | None]:
    """RESPONSE unless said otherwise; a tag alone means MESSAGE_TAG."""
    tag = request.tag
    messaging_type = request.messaging_type or (MessagingType.MESSAGE_TAG if tag else MessagingType.RESPONSE)
    if messaging_type == MessagingType.MESSAGE_TAG and not tag:
        raise SendRuleError(SendRule.TAG_REQUIRED, "messaging_type MESSAGE_TAG needs a tag.", field="tag")
    if messaging_type != MessagingType.MESSAGE_TAG and tag:
        raise SendRuleError(SendRule.TAG_NOT_ALLOWED, "A tag goes only with messaging_type MESSAGE_TAG.", field="tag")
    if tag and platform == Platform.INSTAGRAM and tag not in INSTAGRAM_TAGS:
        raise SendRuleError(SendRule.TAG_NOT_ALLOWED, f"{tag} is not available on Instagram.", field="tag")
    return str(messaging_type), tag


# --- Content -----------------------------------------------------------------------------------------


def content_normalise(*, platform: str, request: SendRequest) -> dict[str, Any]:
    """The normalised content (see the module docstring), checked against Meta's limits; message ids the
    request names are resolved later (``_targets_resolve``)."""
    message_type = request.message_type
    if platform == Platform.WHATSAPP:
        if message_type not in WHATSAPP_TYPES:
            raise SendRuleError(SendRule.NOT_SUPPORTED, f"WhatsApp has no {message_type} messages.", field="type")
        for name, value in (("messaging_type", request.messaging_type), ("tag", request.tag)):
            if value:
                raise SendRuleError(SendRule.NOT_SUPPORTED, f"{name} is for Messenger and Instagram.", field=name)
        body = _WHATSAPP_NORMALISERS[message_type](request.payload, message_type)
        content: dict[str, Any] = {"v": CONTENT_VERSION, "platform": platform, "type": message_type}
        content[message_type] = body
        return content
    if message_type not in MESSAGING_TYPES:
        raise SendRuleError(SendRule.NOT_SUPPORTED, f"{platform} has no {message_type} messages.", field="type")
    if request.context_message_id is not None:
        raise SendRuleError(SendRule.NOT_SUPPORTED, "context is for WhatsApp.", field="context")
    messaging_type, tag = _messaging_type_and_tag(platform, request)
    normaliser = _messaging_text if message_type == "text" else _messaging_attachment
    return {
        "v": CONTENT_VERSION,
        "platform": platform,
        "type": message_type,
        "messaging_type": messaging_type,
        "tag": tag,
        message_type: normaliser(request.payload, platform),
    }


def _at_most(value: str | None, limit: int, field: str) -> None:
    if value is not None and len(value) > limit:
        raise SendRuleError(SendRule.TOO_LONG, f"{field} is longer than {limit} characters.", field=field)


def _count_at_most(items: list[Any], limit: int, field: str) -> None:
    if len(items) > limit:
        raise SendRuleError(SendRule.TOO_MANY, f"{field} holds more than {limit} items.", field=field)


def _https(link: str, field: str) -> str:
    parts = urlsplit(link)
    if parts.scheme != "https" or not parts.netloc:
        raise SendRuleError(SendRule.LINK_NOT_HTTPS, f"{field} must be an https URL.", field=field)
    return link


def _only(payload: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: payload[name] for name in names if payload.get(name) is not None}


def _wa_text(payload: dict[str, Any], _: str) -> dict[str, Any]:
    if payload.get("quick_replies"):
        raise SendRuleError(SendRule.NOT_SUPPORTED, "quick_replies are for Messenger and Instagram.", field="text")
    _at_most(payload["body"], Limit.TEXT, "text.body")
    return {"body": payload["body"], "preview_url": bool(payload.get("preview_url", False))}


def _wa_template(payload: dict[str, Any], _: str) -> dict[str, Any]:
    _at_most(payload["name"], Limit.TEMPLATE_NAME, "template.name")
    return {"name": payload["name"], "language": payload["language"], "components": list(payload.get("components", []))}


def _wa_media(payload: dict[str, Any], message_type: str) -> dict[str, Any]:
    if payload.get("caption") is not None and message_type not in CAPTIONED_MEDIA:
        raise SendRuleError(
            SendRule.NOT_SUPPORTED, f"{message_type} takes no caption.", field=f"{message_type}.caption"
        )
    if payload.get("filename") is not None and message_type != "document":
        raise SendRuleError(SendRule.NOT_SUPPORTED, "Only documents take a filename.", field=f"{message_type}.filename")
    _at_most(payload.get("caption"), Limit.CAPTION, f"{message_type}.caption")
    _at_most(payload.get("filename"), Limit.FILENAME, f"{message_type}.filename")
    if payload.get("link") is not None:
        _https(payload["link"], f"{message_type}.link")
    return _only(payload, "id", "link", "caption", "filename")


def _wa_interactive(payload: dict[str, Any], _: str) -> dict[str, Any]:
    _at_most(payload["body"], Limit.INTERACTIVE_BODY, "interactive.body")
    _at_most(payload.get("footer"), Limit.FOOTER, "interactive.footer")
    result = _only(payload, "type", "body", "footer")
    header = payload.get("header")
    if header is not None:
        result["header"] = _wa_header(header, payload["type"])
    if payload["type"] == "button":
        buttons = payload["buttons"]
        _count_at_most(buttons, Limit.BUTTONS, "interactive.buttons")
        for index, button in enumerate(buttons):
            _at_most(button["title"], Limit.BUTTON_TITLE, f"interactive.buttons[{index}].title")
            _at_most(button["id"], Limit.BUTTON_ID, f"interactive.buttons[{index}].id")
        result["buttons"] = [{"id": button["id"], "title": button["title"]} for button in buttons]
        return result
    _at_most(payload["button"], Limit.LIST_BUTTON, "interactive.button")
    sections = payload["sections"]
    _count_at_most(sections, Limit.LIST_SECTIONS, "interactive.sections")
    _count_at_most([row for section in sections for row in section["rows"]], Limit.LIST_ROWS, "interactive.rows")
    result["button"] = payload["button"]
    result["sections"] = [_wa_section(section, index) for index, section in enumerate(sections)]
    return result


def _wa_header(header: dict[str, Any], interactive_type: str) -> dict[str, Any]:
    if header["type"] == "text":
        _at_most(header["text"], Limit.HEADER_TEXT, "interactive.header.text")
        return {"type": "text", "text": header["text"]}
    if interactive_type == "list":
        raise SendRuleError(
            SendRule.NOT_SUPPORTED, "List messages take only a text header.", field="interactive.header"
        )
    if header.get("link") is not None:
        _https(header["link"], "interactive.header.link")
    return _only(header, "type", "id", "link")


def _wa_section(section: dict[str, Any], index: int) -> dict[str, Any]:
    _at_most(section.get("title"), Limit.SECTION_TITLE, f"interactive.sections[{index}].title")
    rows = []
    for row_index, row in enumerate(section["rows"]):
        where = f"interactive.sections[{index}].rows[{row_index}]"
        _at_most(row["id"], Limit.ROW_ID, f"{where}.id")
        _at_most(row["title"], Limit.ROW_TITLE, f"{where}.title")
        _at_most(row.get("description"), Limit.ROW_DESCRIPTION, f"{where}.description")
        rows.append(_only(row, "id", "title", "description"))
    return {**_only(section, "title"), "rows": rows}


def _wa_reaction(payload: dict[str, Any], _: str) -> dict[str, Any]:
    _at_most(payload["emoji"], Limit.EMOJI, "reaction.emoji")
    return {"message_id": payload["message_id"], "emoji": payload["emoji"]}  # a gateway id until resolved


def _wa_mark_read(payload: dict[str, Any], _: str) -> dict[str, Any]:
    return {"message_id": payload["message_id"]}  # a gateway id until resolved


_WHATSAPP_NORMALISERS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "text": _wa_text,
    "template": _wa_template,
    **dict.fromkeys(WHATSAPP_MEDIA_TYPES, _wa_media),
    "interactive": _wa_interactive,
    "reaction": _wa_reaction,
    "mark_read": _wa_mark_read,
}


def _messaging_text(payload: dict[str, Any], platform: str) -> dict[str, Any]:
    if payload.get("preview_url") is not None:
        raise SendRuleError(SendRule.NOT_SUPPORTED, "preview_url is for WhatsApp.", field="text.preview_url")
    limit = Limit.INSTAGRAM_TEXT if platform == Platform.INSTAGRAM else Limit.MESSENGER_TEXT
    _at_most(payload["body"], limit, "text.body")
    result: dict[str, Any] = {"body": payload["body"]}
    quick_replies = payload.get("quick_replies")
    if quick_replies:
        _count_at_most(quick_replies, Limit.QUICK_REPLIES, "text.quick_replies")
        for index, reply in enumerate(quick_replies):
            _at_most(reply.get("title"), Limit.QUICK_REPLY_TITLE, f"text.quick_replies[{index}].title")
            _at_most(reply.get("payload"), Limit.QUICK_REPLY_PAYLOAD, f"text.quick_replies[{index}].payload")
        result["quick_replies"] = [_only(reply, "content_type", "title", "payload") for reply in quick_replies]
    return result


def _messaging_attachment(payload: dict[str, Any], _: str) -> dict[str, Any]:
    return {"type": payload["type"], "url": _https(payload["url"], "attachment.url")}


def _targets_resolve(content: dict[str, Any], request: SendRequest, conversation: Conversation | None) -> None:
    """Replace the gateway message ids the request names by Meta's ids, checking each belongs here."""
    message_type = request.message_type
    if message_type in {"reaction", "mark_read"}:
        target = content[message_type]
        target["message_id"] = _target_provider_id(
            conversation, uuid.UUID(str(target["message_id"])), inbound_only=message_type == "mark_read"
        )
    if request.context_message_id is not None:
        content["context"] = {
            "message_id": _target_provider_id(conversation, request.context_message_id, inbound_only=False)
        }


def _target_provider_id(conversation: Conversation | None, message_id: uuid.UUID, *, inbound_only: bool) -> str:
    target = None if conversation is None else Message.objects.filter(pk=message_id, conversation=conversation).first()
    if target is None:
        raise SendRuleError(SendRule.TARGET_MESSAGE_NOT_FOUND, "No such message in this conversation.")
    if inbound_only and target.direction != Direction.INBOUND:
        raise SendRuleError(SendRule.TARGET_MESSAGE_NOT_INBOUND, "Only the contact's messages can be marked as read.")
    provider_id: str | None
    try:
        provider_id = target.provider_message_id
    except DecryptionError:
        provider_id = None
    if not provider_id:
        raise SendRuleError(SendRule.TARGET_MESSAGE_NOT_SENT, "That message has no Meta id (yet).")
    return provider_id


# --- Writing -------------------------------------------------------------------------------------


def _idempotency_take(tenant: Tenant, claim: IdempotencyClaim) -> None:
    """Insert the key first: a concurrent request with the same key waits here until this one commits, then
    fails on the unique constraint and replays what this one stored."""
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                tenant=tenant, key=claim.key, request_sha256=claim.request_sha256, response_status=202, response_body={}
            )
    except IntegrityError:
        raise IdempotencyKeyTakenError from None


def _queue(
    channel: Channel, recipient: _Recipient, request: SendRequest, content: dict[str, Any], now: datetime
) -> Message:
    contact = recipient.contact
    if contact is None:
        assert recipient.wanted is not None  # noqa: S101 - _recipient_of sets one of the two
        contact = contacts_resolve([recipient.wanted])[recipient.wanted.key]
    conversation = recipient.conversation or conversation_for(channel=channel, contact=contact)
    # A scheduled send's content lives from when it is due, so its day key is still there to send it.
    stamp = message_stamp(
        written_at=request.send_at or now, lifetimes=lifetimes_for(tenant_id=channel.tenant_id, channel_id=channel.pk)
    )
    message = Message.objects.create(
        tenant_id=channel.tenant_id,
        channel=channel,
        conversation=conversation,
        contact=contact,
        direction=Direction.OUTBOUND,
        message_type=request.message_type,
        status=MessageStatus.QUEUED,
        received_at=now,
        provider_timestamp=now,
        content=content,
        author_kind=request.author_kind,
        send_at=request.send_at,
        next_attempt_at=request.send_at,  # a scheduled send cannot be leased before its time, whoever publishes it
        **stamp.as_fields(),
    )
    OutboxEntry.objects.create(
        message=message, tenant_id=channel.tenant_id, channel=channel, available_at=request.send_at or now
    )
    return message


def _outbox_mark_published(message_id: uuid.UUID) -> None:
    OutboxEntry.objects.filter(message_id=message_id, published_at__isnull=True).update(published_at=timezone.now())
