"""The body of an event as its consumers receive it, pushed or pulled: one envelope, the same for every type.

``{"id": "evt_…", "type": …, "timestamp": …, "tenant": …, "data": {…}}``. ``data`` always holds the ids the event
is about and its clear facts (a status, Meta's error code and title, a reason). A ``full`` payload adds the
message as the REST API shows it (``GET /api/v1/messages/<id>/``), content included, read from the message row
when the body is built: content past its retention, sealed under a destroyed key or erased with its contact is
never read, and that event goes out ``thin``, as ``data.payload`` then says.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from events.models import Event, PayloadMode
from messaging import selectors
from messaging.api_representation import MessageOutputSerializer
from messaging.models import Message

ID_FIELDS = ("channel_id", "conversation_id", "contact_id", "message_id")
_ENCODER = DjangoJSONEncoder()


def events_payloads(events: Sequence[Event], *, mode: str) -> list[dict[str, Any]]:
    """Each event's payload in ``mode``; the messages of a ``full`` batch are read with one query."""
    messages = _messages_with_content(events) if mode == PayloadMode.FULL else {}
    return [_payload(event, messages.get(event.message_id) if event.message_id else None) for event in events]


def event_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact JSON, UTF-8."""
    return _ENCODER.encode(payload).encode()


def _payload(event: Event, message: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {name.removesuffix("_id"): _id(getattr(event, name)) for name in ID_FIELDS}
    data.update(event.facts)
    data["payload"] = PayloadMode.FULL.value if message is not None else PayloadMode.THIN.value
    if message is not None:
        data["message_detail"] = message
    return {
        "id": event.public_id,
        "type": event.type,
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "tenant": str(event.tenant_id),
        "data": data,
    }


def _messages_with_content(events: Sequence[Event]) -> dict[uuid.UUID, dict[str, Any]]:
    """The messages these events name whose content is still served, as the API shows them."""
    ids = {event.message_id for event in events if event.message_id is not None}
    if not ids:
        return {}
    shown: dict[uuid.UUID, dict[str, Any]] = {}
    for message in selectors.messages_with_statuses(Message.objects.filter(pk__in=ids)):
        opened = selectors.message_open(message=message)
        if not (opened.is_content_expired or opened.is_content_unavailable):
            shown[message.pk] = dict(MessageOutputSerializer(opened).data)
    return shown


def _id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
