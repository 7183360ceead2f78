"""Business events: what the businesses' own systems learn about, recorded in the transaction that makes the change.

messaging never imports the ``events`` app, which sits above it. ``events`` registers a sink in its
``AppConfig.ready()`` (``business_events_sink_register``), as policies registers its lifetimes; messaging calls
``business_events_record`` inside the transaction that stores a message, moves a status or pauses a channel, so
the event commits or rolls back with the change that caused it (a transactional outbox, never a signal after
commit). Without a sink nothing is recorded.

An event carries ids and clear facts only (a status, Meta's error code and title, a reason): message content
stays sealed in its message row, and a delivery that includes content reads it from there, under the
message's own expiry and erasure.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from messaging.models import Message

Fact = str | int | float | bool | None
ERROR_TITLE_LENGTH = 200  # as Message.failure_title keeps it
# The columns an event about a message reads: a row loaded with ``.only()`` for one needs these.
MESSAGE_EVENT_FIELDS = ("pk", "tenant_id", "channel_id", "conversation_id", "contact_id")


class EventType(StrEnum):
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_ECHO = "message.echo"
    MESSAGE_STATUS = "message.status"
    MESSAGE_REACTION = "message.reaction"
    MESSAGE_EDITED = "message.edited"
    MESSAGE_STATUS_PARKED = "message.status_parked"
    CONTACT_ERASED = "contact.erased"
    CHANNEL_PAUSED = "channel.paused"
    CHANNEL_RESUMED = "channel.resumed"
    CHANNEL_ERROR = "channel.error"
    CONVERSATION_WINDOW_CLOSING = "conversation.window_closing"
    PING = "ping"
    SECURITY_ALERT = "security.alert"


# The stored message types that are events about another message, by the event they produce.
_MESSAGE_TYPE_EVENTS = {"reaction": EventType.MESSAGE_REACTION, "message_edit": EventType.MESSAGE_EDITED}


@dataclass(frozen=True, slots=True, kw_only=True)
class BusinessEvent:
    """One event for a tenant's systems: ids and clear facts, never content."""

    type: EventType
    tenant_id: uuid.UUID
    occurred_at: datetime
    channel_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    facts: Mapping[str, Fact] = field(default_factory=dict)


BusinessEventSink = Callable[[Sequence[BusinessEvent]], object]


class OutsideTransactionError(RuntimeError):
    """An event recorded outside a transaction would commit apart from the change that caused it."""


_lock = threading.Lock()
_sink: BusinessEventSink | None = None


def business_events_sink_register(sink: BusinessEventSink | None) -> None:
    """``sink(events)`` writes the events in the caller's transaction; the last registered wins (None: none)."""
    global _sink  # noqa: PLW0603 - one registry per process, set once at start-up
    with _lock:
        _sink = sink


def business_events_record(events: Sequence[BusinessEvent]) -> None:
    """Hand ``events`` to the registered sink, inside the caller's transaction (which must be open)."""
    sink = _sink
    if not events or sink is None:
        return
    if not transaction.get_connection().in_atomic_block:
        raise OutsideTransactionError("business events are recorded inside the transaction of their change")
    sink(events)


def message_event_type(*, message_type: str, is_sent_elsewhere: bool) -> EventType:
    """The event a newly stored message produces: an echo, a reaction, an edit, or a message received."""
    if is_sent_elsewhere:
        return EventType.MESSAGE_ECHO
    return _MESSAGE_TYPE_EVENTS.get(message_type, EventType.MESSAGE_RECEIVED)


def message_business_event(
    event_type: EventType, message: Message, *, occurred_at: datetime, facts: Mapping[str, Fact]
) -> BusinessEvent:
    """An event about ``message``, naming it, its conversation, contact and channel (``MESSAGE_EVENT_FIELDS``:
    deferred on a row loaded with ``.only()``, each would cost a query)."""
    return BusinessEvent(
        type=event_type,
        tenant_id=message.tenant_id,
        occurred_at=occurred_at,
        channel_id=message.channel_id,
        conversation_id=message.conversation_id,
        contact_id=message.contact_id,
        message_id=message.pk,
        facts=facts,
    )


def message_status_event(
    message: Message,
    *,
    status: str,
    occurred_at: datetime,
    error_code: int | None = None,
    error_title: str | None = None,
) -> BusinessEvent:
    """``message.status``: the status, and Meta's error code and title when it failed (None otherwise)."""
    facts: dict[str, Fact] = {
        "status": status,
        "error_code": error_code,
        "error_title": error_title[:ERROR_TITLE_LENGTH] if error_title else None,
    }
    return message_business_event(EventType.MESSAGE_STATUS, message, occurred_at=occurred_at, facts=facts)


def first_error(errors: Sequence[Mapping[str, object]]) -> tuple[int | None, str | None]:
    """Meta's first error of a status as (code, title); never its free-text message or details."""
    if not errors:
        return None, None
    code, title = errors[0].get("code"), errors[0].get("title")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        title if isinstance(title, str) and title else None,
    )
