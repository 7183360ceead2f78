"""Messaging records its business events where the change is made, in the same transaction: a stored message
(received, echo, reaction, edit) and each new status, once; a redelivered webhook records nothing; a failure
inside the storing transaction leaves no event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Tenant
from events.models import Event, EventDelivery
from messaging.business_events import EventType
from messaging.inbound.store.delivery import delivery_items_store
from messaging.models import Channel, Contact, Conversation, Direction, Message, MessageStatus, Platform
from messaging.providers.registry import parse_webhook
from tests.events.conftest import EndpointFactory, channel_for
from tests.events.emission_support import deliver, events_of, fixture_for, messenger_edit, whatsapp_status

pytestmark = pytest.mark.django_db(transaction=True)

Body = Callable[[Channel], dict[str, Any]]


def _fixture(name: str) -> Body:
    return lambda channel: fixture_for(channel, name)


@pytest.mark.parametrize(
    ("platform", "body", "event_type", "direction", "public_type"),
    [
        (Platform.WHATSAPP, _fixture("whatsapp_text.json"), EventType.MESSAGE_RECEIVED, "inbound", "text"),
        (Platform.WHATSAPP, _fixture("whatsapp_reaction.json"), EventType.MESSAGE_REACTION, "inbound", "reaction"),
        (Platform.MESSENGER, _fixture("messenger_reaction.json"), EventType.MESSAGE_REACTION, "inbound", "reaction"),
        (Platform.MESSENGER, messenger_edit, EventType.MESSAGE_EDITED, "inbound", "edit"),
        (Platform.MESSENGER, _fixture("messenger_echo.json"), EventType.MESSAGE_ECHO, "outbound", "text"),
        (Platform.INSTAGRAM, _fixture("instagram_text.json"), EventType.MESSAGE_RECEIVED, "inbound", "text"),
    ],
)
def test_a_stored_message_records_its_event_once_and_a_redelivery_none(
    tenant_a: Tenant,
    endpoint_make: EndpointFactory,
    platform: str,
    body: Body,
    event_type: EventType,
    direction: str,
    public_type: str,
) -> None:
    channel = channel_for(tenant_a, "3003", platform=platform)
    endpoint = endpoint_make(tenant_a, types=[event_type.value])
    document = body(channel)

    deliver(channel, document)
    deliver(channel, document)

    message = Message.objects.get()
    [event] = Event.objects.all()
    assert (event.tenant_id, event.type, event.occurred_at) == (tenant_a.pk, event_type, message.provider_timestamp)
    assert (event.message_id, event.conversation_id, event.contact_id, event.channel_id) == (
        message.pk,
        message.conversation_id,
        message.contact_id,
        channel.pk,
    )
    assert event.facts == {"direction": direction, "type": public_type, "platform": platform}
    assert list(EventDelivery.objects.values_list("event_id", "endpoint_id")) == [(event.pk, endpoint.pk)]


def test_one_delivery_of_many_messages_records_one_event_per_message_stored(
    tenant_a: Tenant, channel_a: Channel
) -> None:
    document = fixture_for(channel_a, "whatsapp_text.json")
    value = document["entry"][0]["changes"][0]["value"]
    first = value["messages"][0]
    value["messages"] = [{**first, "id": f"wamid.batch-{index}"} for index in range(3)] + [first, first]

    assert deliver(channel_a, document) == {"stored": 4, "duplicate": 1, "problems": 0}

    events = events_of(EventType.MESSAGE_RECEIVED)
    assert {event.message_id for event in events} == set(Message.objects.values_list("pk", flat=True))
    assert len(events) == 4


def _outbound(channel: Channel, wamid: str, *, status: str = MessageStatus.ACCEPTED) -> Message:
    """A message the gateway sent, as the dispatcher leaves it once Meta accepted it."""
    contact = Contact.objects.create(tenant=channel.tenant, platform=channel.platform, external_id="16505551234")
    conversation = Conversation.objects.create(tenant=channel.tenant, channel=channel, contact=contact)
    sent_at = datetime(2025, 6, 28, 20, 0, tzinfo=UTC)
    message = Message(
        tenant=channel.tenant,
        channel=channel,
        conversation=conversation,
        contact=contact,
        direction=Direction.OUTBOUND,
        message_type="text",
        status=status,
        provider_message_id=wamid,
        provider_timestamp=sent_at,
        received_at=sent_at,
        content={"v": 1, "platform": channel.platform, "type": "text", "text": {"body": "Your order shipped"}},
    )
    message.save()
    return message


def _status_facts(event: Event) -> tuple[str, object, object]:
    return (event.facts["status"], event.facts["error_code"], event.facts["error_title"])


def test_every_new_status_is_an_event_also_one_that_does_not_move_the_message(channel_a: Channel) -> None:
    message = _outbound(channel_a, "wamid.status-1")
    at = datetime(2025, 6, 28, 20, 1, tzinfo=UTC)

    deliver(channel_a, whatsapp_status(channel_a, "wamid.status-1", "sent", at))
    deliver(channel_a, whatsapp_status(channel_a, "wamid.status-1", "read", at + timedelta(minutes=2)))
    deliver(channel_a, whatsapp_status(channel_a, "wamid.status-1", "delivered", at + timedelta(minutes=1)))
    deliver(channel_a, whatsapp_status(channel_a, "wamid.status-1", "delivered", at + timedelta(minutes=1)))

    message.refresh_from_db()
    assert message.status == MessageStatus.READ
    events = events_of(EventType.MESSAGE_STATUS)
    assert [_status_facts(event) for event in events] == [
        ("sent", None, None),
        ("delivered", None, None),
        ("read", None, None),
    ]
    assert [event.occurred_at for event in events] == [at + timedelta(minutes=minutes) for minutes in (0, 1, 2)]
    assert {(e.message_id, e.conversation_id, e.contact_id, e.channel_id) for e in events} == {
        (message.pk, message.conversation_id, message.contact_id, channel_a.pk)
    }


def test_a_failed_status_carries_metas_first_error_code_and_title(channel_a: Channel) -> None:
    _outbound(channel_a, "wamid.status-2")
    failed = whatsapp_status(channel_a, "wamid.status-2", "failed", datetime(2025, 6, 28, 20, 1, tzinfo=UTC))
    meta_error = failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]

    deliver(channel_a, failed)

    [event] = events_of(EventType.MESSAGE_STATUS)
    assert event.facts == {"status": "failed", "error_code": 131049, "error_title": meta_error["title"]}


def test_a_messenger_read_receipt_is_a_status_event_for_each_message_under_its_watermark_once(
    tenant_a: Tenant,
) -> None:
    channel = channel_for(tenant_a, "3004", platform=Platform.MESSENGER)
    echo = fixture_for(channel, "messenger_echo.json")

    deliver(channel, echo)
    echoed = echo["entry"][0]["messaging"][0]
    receipt = fixture_for(channel, "messenger_read.json")
    read = receipt["entry"][0]["messaging"][0]
    read["sender"] = echoed["recipient"]  # the person the echoed message went to
    read["read"]["watermark"] = echoed["timestamp"] + 1
    deliver(channel, receipt)
    deliver(channel, receipt)

    message = Message.objects.get()
    [event] = events_of(EventType.MESSAGE_STATUS)
    assert (event.message_id, _status_facts(event)) == (message.pk, ("read", None, None))
    assert event.conversation_id == message.conversation_id


def test_a_failure_inside_the_storing_transaction_leaves_no_event(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    endpoint_make(tenant_a)
    parsed = parse_webhook(json.dumps(fixture_for(channel_a, "whatsapp_text.json")).encode())

    def mark_processed() -> None:
        raise RuntimeError("the delivery could not be marked processed")

    with pytest.raises(RuntimeError, match="marked processed"):
        delivery_items_store(
            meta_app=channel_a.meta_app,
            delivery_id=uuid.uuid4(),
            parsed=parsed,
            received_at=timezone.now(),
            then=mark_processed,
        )

    assert not Message.objects.exists()
    assert not Event.objects.exists()
    assert not EventDelivery.objects.exists()
