"""Reads for the tenant API. Every query starts from the tenant; a row of another tenant does not exist here.

Read-time retention: ``content_live_q`` / ``content_expired_q`` are the SQL side of
``messaging.models.content_is_expired`` (purged, or past ``content_expires_at`` and under no legal hold).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When
from django.utils import timezone

from accounts.models import Tenant
from encryption.blind_index import blind_index_filter
from encryption.errors import DecryptionError
from encryption.fields import ContentExpiredError
from messaging.models import (
    PARKED_STATUS_WINDOW,
    Channel,
    ChannelEvent,
    Contact,
    Conversation,
    MediaAttachment,
    Message,
    MessageEdit,
    ParkedReceipt,
    ParkedStatus,
    StatusEvent,
)
from messaging.providers.registry import message_public, reply_windows
from messaging.providers.representation import PublicMessage, public_type, raw_object
from messaging.statuses import STATUS_RANK


@dataclass(frozen=True)
class MessageFilters:
    channel_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    direction: str | None = None
    message_type: str | None = None
    status: str | None = None
    provider_message_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    updated_since: datetime | None = None
    content_expired: bool | None = None
    is_historical: bool | None = None


@dataclass(frozen=True)
class OpenedMessage:
    """A message with its sealed values opened; a value that does not open is None, never an error. Expired
    content (retention) is None too, and said so: it is never opened."""

    message: Message
    provider_message_id: str | None
    content: Any
    is_content_unavailable: bool
    is_content_expired: bool = False

    @property
    def platform(self) -> str:
        return self.message.channel.platform

    @property
    def public(self) -> PublicMessage:
        """Its type in the public vocabulary and its text, read through the platform's adapter; content that is
        gone (expired, purged) still has the type read when the row was written."""
        message = self.message
        if self.content is None and message.public_type:
            return PublicMessage(public_type(message.public_type))
        return message_public(platform=self.platform, message_type=message.message_type, content=self.content)

    @property
    def raw(self) -> Any:
        """The platform's own object (a webhook's message or event); None for a send the gateway made."""
        return raw_object(self.content)

    @property
    def previous_versions(self) -> list[dict[str, Any]]:
        """The texts it had before its current one, oldest first (none once its content is not served)."""
        if self.content is None:
            return []
        return [
            {"number": edit.number, "text": _opened(instance=edit, attribute="text")[0], "at": edit.provider_timestamp}
            for edit in self.message.edits.all()
            if edit.number < self.message.edit_count
        ]

    @property
    def failure(self) -> dict[str, Any] | None:
        message = self.message
        if message.failure_code is None and not message.failure_title:
            return None
        return {"code": message.failure_code, "title": message.failure_title or None}

    @property
    def author(self) -> str | None:
        return self.message.author_kind or None


@dataclass(frozen=True)
class OpenedContact:
    contact: Contact
    external_id: str | None
    business_user_id: str | None
    profile: Any
    is_content_unavailable: bool


def _opened(*, instance: Any, attribute: str) -> tuple[Any, bool]:
    """The plaintext of an encrypted attribute and whether it opened (a destroyed key is not a server error).
    Expired content is not a failure to open: ``ContentExpiredError`` goes to the caller."""
    try:
        return getattr(instance, attribute), True
    except ContentExpiredError:
        raise
    except DecryptionError:
        return None, False


def content_expired_q(*, now: datetime | None = None) -> Q:
    """Messages whose content is not to be served: purged, or past its expiry and under no legal hold."""
    moment = now or timezone.now()
    return Q(content_purged_at__isnull=False) | Q(hold_id__isnull=True, content_expires_at__lte=moment)


def content_live_q(*, now: datetime | None = None) -> Q:
    """Messages whose content may be served (rows written before expiry was stamped count as live)."""
    moment = now or timezone.now()
    return Q(content_purged_at__isnull=True) & (
        Q(hold_id__isnull=False) | Q(content_expires_at__isnull=True) | Q(content_expires_at__gt=moment)
    )


def messages_with_live_content(messages: QuerySet[Message], *, now: datetime | None = None) -> QuerySet[Message]:
    return messages.filter(content_live_q(now=now))


def public_type_q(public_type: str) -> Q:
    """Messages of that public type; a row written before the type was stored matches by its stored type
    (WhatsApp's names are the vocabulary's) until ``manage.py messages_public_types`` fills it."""
    return Q(public_type=public_type) | Q(public_type="", message_type=public_type)


def message_list(*, tenant: Tenant, filters: MessageFilters) -> QuerySet[Message]:
    messages = Message.objects.filter(tenant=tenant)
    if filters.content_expired is not None:
        messages = messages.filter(content_expired_q() if filters.content_expired else content_live_q())
    exact = {
        "channel_id": filters.channel_id,
        "contact_id": filters.contact_id,
        "conversation_id": filters.conversation_id,
        "direction": filters.direction,
        "status": filters.status,
        "provider_timestamp__gte": filters.since,
        "provider_timestamp__lt": filters.until,
        "updated_at__gte": filters.updated_since,
        "is_historical": filters.is_historical,
    }
    messages = messages.filter(**{lookup: value for lookup, value in exact.items() if value is not None})
    if filters.message_type is not None:
        messages = messages.filter(public_type_q(filters.message_type))
    if filters.provider_message_id is not None:
        messages = messages.filter(
            blind_index_filter(
                Message, "provider_message_index", tenant_id=tenant.pk, value=filters.provider_message_id
            )
        )
    return messages_with_statuses(messages)


def message_get(*, tenant: Tenant, message_id: uuid.UUID) -> Message:
    """Raises Message.DoesNotExist for a missing id and for another tenant's id alike."""
    return messages_with_statuses(Message.objects.filter(tenant=tenant)).get(pk=message_id)


def messages_with_statuses(messages: QuerySet[Message]) -> QuerySet[Message]:
    """The messages with their status events (in lifecycle order), attachments and earlier versions prefetched."""
    # Meta's timestamps are whole seconds: within one, the lifecycle order decides (sent before delivered).
    rank = Case(
        *(When(status=status, then=Value(position)) for status, position in STATUS_RANK.items()),
        default=Value(len(STATUS_RANK)),
    )
    statuses = StatusEvent.objects.alias(rank=rank).order_by("provider_timestamp", "rank", "id")
    attachments = MediaAttachment.objects.order_by("position").only(
        "message_id", "position", "kind", "status", "mime_type", "size"
    )
    edits = MessageEdit.objects.order_by("number")
    return with_channel(messages).prefetch_related(
        Prefetch("status_events", queryset=statuses), Prefetch("attachments", attachments), Prefetch("edits", edits)
    )


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages in the order they happened, with their statuses and attachments."""
    messages = Message.objects.filter(tenant_id=conversation.tenant_id, conversation=conversation)
    return messages_with_statuses(messages).order_by("provider_timestamp", "id")


def with_channel(messages: QuerySet[Message]) -> QuerySet[Message]:
    """The messages with their channel (its platform names their types), its access token left sealed."""
    return messages.select_related("channel").defer("channel__access_token")


def message_open(*, message: Message) -> OpenedMessage:
    provider_message_id, _ = _opened(instance=message, attribute="provider_message_id")
    try:
        content, is_open = _opened(instance=message, attribute="content")
    except ContentExpiredError:
        return OpenedMessage(message, provider_message_id, None, is_content_unavailable=False, is_content_expired=True)
    return OpenedMessage(
        message=message,
        provider_message_id=provider_message_id,
        content=content,
        is_content_unavailable=not is_open,
    )


def contact_list(*, tenant: Tenant, external_id: str | None = None) -> QuerySet[Contact]:
    contacts = Contact.objects.filter(tenant=tenant)
    if external_id is not None:
        contacts = contacts.filter(
            blind_index_filter(Contact, "external_id_index", tenant_id=tenant.pk, value=external_id)
        )
    return contacts


def contact_get(*, tenant: Tenant, contact_id: uuid.UUID) -> Contact:
    """Raises Contact.DoesNotExist for a missing id and for another tenant's id alike."""
    return Contact.objects.get(tenant=tenant, pk=contact_id)


def contact_open(*, contact: Contact) -> OpenedContact:
    external_id, is_id_open = _opened(instance=contact, attribute="external_id")
    business_user_id, is_business_id_open = _opened(instance=contact, attribute="business_user_id")
    profile, is_profile_open = _opened(instance=contact, attribute="profile")
    return OpenedContact(
        contact=contact,
        external_id=external_id,
        business_user_id=business_user_id,
        profile=profile,
        is_content_unavailable=not (is_id_open and is_business_id_open and is_profile_open),
    )


@dataclass(frozen=True)
class LastMessage:
    """The newest message of a conversation, without its content."""

    id: uuid.UUID
    type: str
    direction: str
    provider_timestamp: datetime


@dataclass(frozen=True)
class ConversationView:
    """A conversation with its reply window's end (None when closed-ended or never opened) and last message."""

    conversation: Conversation
    window_expires_at: datetime | None
    last_message: LastMessage | None


def _conversations(tenant: Tenant) -> QuerySet[Conversation]:
    newest = Message.objects.filter(conversation=OuterRef("pk")).order_by("-provider_timestamp", "-id")
    return (
        Conversation.objects.filter(tenant=tenant)
        .select_related("channel")
        .defer("channel__access_token")
        .annotate(last_message_id=Subquery(newest.values("id")[:1]))
    )


def conversation_list(*, tenant: Tenant, updated_since: datetime | None = None) -> QuerySet[Conversation]:
    conversations = _conversations(tenant)
    return conversations if updated_since is None else conversations.filter(updated_at__gte=updated_since)


def conversation_get(*, tenant: Tenant, conversation_id: uuid.UUID) -> Conversation:
    """Raises Conversation.DoesNotExist for a missing id and for another tenant's id alike."""
    return _conversations(tenant).get(pk=conversation_id)


def conversations_describe(conversations: list[Conversation]) -> list[ConversationView]:
    """Rows of ``conversation_list``/``conversation_get`` with their window and last message, in one query
    more (the last messages' types are read from their content)."""
    last_ids = [_last_message_id(conversation) for conversation in conversations]
    last_messages = {
        message.pk: _last_message(message)
        for message in with_channel(Message.objects.filter(pk__in=[pk for pk in last_ids if pk]))
    }
    windows = {str(platform): window for platform, window in reply_windows().items()}
    return [
        ConversationView(
            conversation=conversation,
            window_expires_at=_window_end(conversation, windows),
            last_message=last_messages.get(last_id) if last_id else None,
        )
        for conversation, last_id in zip(conversations, last_ids, strict=True)
    ]


def _last_message_id(conversation: Conversation) -> uuid.UUID | None:
    """The id ``_conversations`` annotates."""
    last_id: uuid.UUID | None = getattr(conversation, "last_message_id", None)
    return last_id


def _window_end(conversation: Conversation, windows: dict[str, timedelta]) -> datetime | None:
    window = windows.get(conversation.channel.platform)
    opened_at = conversation.last_inbound_at
    return None if window is None or opened_at is None else opened_at + window


def _last_message(message: Message) -> LastMessage:
    return LastMessage(
        id=message.pk,
        type=message_open(message=message).public.type,
        direction=message.direction,
        provider_timestamp=message.provider_timestamp,
    )


def channel_list(*, tenant: Tenant) -> QuerySet[Channel]:
    # The access token is never needed to describe a channel: it stays sealed and unloaded.
    return Channel.objects.filter(tenant=tenant).defer("access_token")


def channel_get(*, tenant: Tenant, channel_id: uuid.UUID) -> Channel:
    """Raises Channel.DoesNotExist for a missing id and for another tenant's id alike."""
    return channel_list(tenant=tenant).get(pk=channel_id)


def channel_event_list(*, channel: Channel, field: str | None = None) -> QuerySet[ChannelEvent]:
    """The channel's news from Meta (the channel is already the tenant's), of one webhook field if given."""
    return tenant_channel_event_list(tenant=channel.tenant, channel=channel.pk, field=field)


# --- What is parked, and channel news ------------------------------------------------------------


@dataclass(frozen=True)
class OpenedParkedStatus:
    parked: ParkedStatus
    provider_message_id: str | None

    @property
    def expires_at(self) -> datetime:
        return self.parked.received_at + PARKED_STATUS_WINDOW


def parked_status_list(*, tenant: Tenant, channel: uuid.UUID | None = None) -> QuerySet[ParkedStatus]:
    rows = ParkedStatus.objects.filter(tenant=tenant)
    return rows if channel is None else rows.filter(channel_id=channel)


def parked_status_open(*, parked: ParkedStatus) -> OpenedParkedStatus:
    provider_message_id, _ = _opened(instance=parked, attribute="provider_message_id")
    return OpenedParkedStatus(parked=parked, provider_message_id=provider_message_id)


def parked_receipt_list(*, tenant: Tenant, channel: uuid.UUID | None = None) -> QuerySet[ParkedReceipt]:
    rows = ParkedReceipt.objects.filter(tenant=tenant)
    return rows if channel is None else rows.filter(channel_id=channel)


def tenant_channel_event_list(
    *, tenant: Tenant, channel: uuid.UUID | None = None, field: str | None = None
) -> QuerySet[ChannelEvent]:
    rows = ChannelEvent.objects.filter(tenant=tenant)
    if channel is not None:
        rows = rows.filter(channel_id=channel)
    return rows if field is None else rows.filter(field=field)
