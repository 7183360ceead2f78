"""Reads for the tenant API. Every query starts from the tenant; a row of another tenant does not exist here.

Read-time retention: ``content_live_q`` / ``content_expired_q`` are the SQL side of
``messaging.models.content_is_expired`` (purged, or past ``content_expires_at`` and under no legal hold).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.models import Tenant
from encryption.blind_index import blind_index_filter
from encryption.errors import DecryptionError
from encryption.fields import ContentExpiredError
from messaging.models import Channel, Contact, Conversation, MediaAttachment, Message, StatusEvent
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


@dataclass(frozen=True)
class OpenedMessage:
    """A message with its sealed values opened; a value that does not open is None, never an error. Expired
    content (retention) is None too, and said so: it is never opened."""

    message: Message
    provider_message_id: str | None
    content: Any
    is_content_unavailable: bool
    is_content_expired: bool = False


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


def message_list(*, tenant: Tenant, filters: MessageFilters) -> QuerySet[Message]:
    messages = Message.objects.filter(tenant=tenant)
    if filters.content_expired is not None:
        messages = messages.filter(content_expired_q() if filters.content_expired else content_live_q())
    exact = {
        "channel_id": filters.channel_id,
        "contact_id": filters.contact_id,
        "conversation_id": filters.conversation_id,
        "direction": filters.direction,
        "message_type": filters.message_type,
        "status": filters.status,
        "provider_timestamp__gte": filters.since,
        "provider_timestamp__lt": filters.until,
        "updated_at__gte": filters.updated_since,
    }
    messages = messages.filter(**{lookup: value for lookup, value in exact.items() if value is not None})
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
    """The messages with their status events (in lifecycle order) and attachments prefetched."""
    # Meta's timestamps are whole seconds: within one, the lifecycle order decides (sent before delivered).
    rank = Case(
        *(When(status=status, then=Value(position)) for status, position in STATUS_RANK.items()),
        default=Value(len(STATUS_RANK)),
    )
    statuses = StatusEvent.objects.alias(rank=rank).order_by("provider_timestamp", "rank", "id")
    attachments = MediaAttachment.objects.order_by("position").only("message_id", "status", "mime_type", "size")
    return messages.prefetch_related(Prefetch("status_events", queryset=statuses), Prefetch("attachments", attachments))


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


def conversation_list(*, tenant: Tenant, updated_since: datetime | None = None) -> QuerySet[Conversation]:
    conversations = Conversation.objects.filter(tenant=tenant)
    return conversations if updated_since is None else conversations.filter(updated_at__gte=updated_since)


def conversation_get(*, tenant: Tenant, conversation_id: uuid.UUID) -> Conversation:
    """Raises Conversation.DoesNotExist for a missing id and for another tenant's id alike."""
    return Conversation.objects.get(tenant=tenant, pk=conversation_id)


def channel_list(*, tenant: Tenant) -> QuerySet[Channel]:
    # The access token is never needed to describe a channel: it stays sealed and unloaded.
    return Channel.objects.filter(tenant=tenant).defer("access_token")


def channel_get(*, tenant: Tenant, channel_id: uuid.UUID) -> Channel:
    """Raises Channel.DoesNotExist for a missing id and for another tenant's id alike."""
    return channel_list(tenant=tenant).get(pk=channel_id)
