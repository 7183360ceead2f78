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

from django.db import transaction

Fact = str | int | float | bool | None


class EventType(StrEnum):
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_ECHO = "message.echo"
    MESSAGE_STATUS = "message.status"
    MESSAGE_REACTION = "message.reaction"
    MESSAGE_EDITED = "message.edited"
    CONTACT_ERASED = "contact.erased"
    CHANNEL_PAUSED = "channel.paused"
    CHANNEL_RESUMED = "channel.resumed"
    CONVERSATION_WINDOW_CLOSING = "conversation.window_closing"
    PING = "ping"


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
