"""Sending: check a send request against Meta's rules, then queue it (message + outbox row, one transaction).

The dispatcher (``messaging.outbound.dispatch``, task ``outbound.send``) takes it from there. What it reads is
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
A template send on a channel with a WhatsApp Business Account id is checked against that account's stored
templates (``messaging.message_templates``, docs/templates.md): known, APPROVED in that language (PAUSED,
DISABLED, PENDING, REJECTED refused), parameters matching its variables in count, names and types, header media
given when the header is media. Windows are judged at the time of sending (``send_at`` or now) with what is
known now. Meta's size limits (META-SPEC §6-7) are checked here so that a send is refused at once rather than
failed by Meta later.
"""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Tenant
from core.tasks import enqueue_by_name_on_commit
from encryption.blind_index import blind_index_filter
from encryption.errors import DecryptionError
from messaging.contacts import ContactWanted, contacts_resolve, conversation_for
from messaging.lifetimes import lifetimes_for, message_stamp
from messaging.message_templates import template_facts
from messaging.models import (
    Channel,
    ChannelStatus,
    Contact,
    Conversation,
    Direction,
    IdempotencyRecord,
    Message,
    MessageStatus,
    OutboxEntry,
)
from messaging.outbound.dispatch.transitions import message_cancel_if_queued
from messaging.providers import registry
from messaging.providers.sending import SendRequest, SendRule, SendRuleError
from messaging.task_names import SEND_TASK

logger = logging.getLogger(__name__)

SEND_AT_MAX_AHEAD = timedelta(days=30)


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
    content = registry.content_normalise(platform=channel.platform, request=request)
    _template_check(channel, content)
    recipient = _recipient_of(tenant, channel, request)
    _recipient_check(recipient, request)
    registry.adapter_for(channel.platform).window_check(
        request=request, content=content, last_inbound_at=recipient.last_inbound_at, at=sending_at
    )
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
                SEND_TASK, message.pk, on_published=functools.partial(outbox_mark_published, message.pk)
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
    if not message_cancel_if_queued(tenant_id=tenant.pk, message_id=message_id, now=timezone.now()):
        status = Message.objects.filter(pk=message_id, tenant=tenant).values_list("status", flat=True).first()
        if status is None:
            raise Message.DoesNotExist
        raise MessageNotCancellableError(status)
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
        external_id = registry.adapter_for(channel.platform).recipient_external_id(request.to or "")
        query = blind_index_filter(Contact, "external_id_index", tenant_id=tenant.pk, value=external_id)
        contact = Contact.objects.filter(query, tenant=tenant, platform=channel.platform).first()
        wanted = ContactWanted(channel=channel, external_id=external_id)
    conversation = None if contact is None else Conversation.objects.filter(channel=channel, contact=contact).first()
    return _Recipient(contact=contact, wanted=wanted, conversation=conversation)


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


def _template_check(channel: Channel, content: dict[str, Any]) -> None:
    """A template send against the stored template of the channel's WhatsApp Business Account: it must be known
    (synced), approved in that language and filled exactly (``Adapter.template_check``). A channel with no
    account id has no templates to check against; Meta checks its template sends."""
    adapter = registry.adapter_for(channel.platform)
    reference = adapter.template_reference(content)
    if reference is None or not channel.waba_id:
        return
    facts = template_facts(tenant_id=channel.tenant_id, waba_id=channel.waba_id, reference=reference)
    if facts is None:
        raise SendRuleError(
            SendRule.TEMPLATE_NOT_FOUND,
            f"No template {reference.name} in {reference.language} is known for this channel's WhatsApp Business "
            "Account; create it or sync the templates first.",
            field="template",
        )
    adapter.template_check(content, facts)


# --- Schedule and targets ------------------------------------------------------------------------


def _send_at_check(send_at: datetime | None, now: datetime) -> datetime:
    """The moment the send is meant for; windows are judged then."""
    if send_at is None:
        return now
    if send_at <= now or send_at > now + SEND_AT_MAX_AHEAD:
        raise SendRuleError(
            SendRule.SEND_AT_OUT_OF_RANGE,
            "The send time must be in the future and at most 30 days ahead.",
            field="send_at",
        )
    return send_at


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
        public_type=registry.message_public(
            platform=channel.platform, message_type=request.message_type, content=content
        ).type.value,
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


def outbox_mark_published(message_id: uuid.UUID) -> None:
    """The message's outbox row was published: the relay leaves it alone unless it is still queued much later."""
    OutboxEntry.objects.filter(message_id=message_id, published_at__isnull=True).update(published_at=timezone.now())
