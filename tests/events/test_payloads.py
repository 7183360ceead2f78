"""Event payloads: one envelope; ids and facts always; content only in full mode and only while it is served."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from events.models import Event, PayloadMode
from events.payloads import event_body, events_payloads
from messaging.business_events import BusinessEvent, EventType, business_events_record
from messaging.models import Channel, Message
from tests.events.conftest import message_make

pytestmark = pytest.mark.django_db


def _status_event(message: Message) -> Event:
    with transaction.atomic():
        business_events_record(
            [
                BusinessEvent(
                    type=EventType.MESSAGE_STATUS,
                    tenant_id=message.tenant_id,
                    occurred_at=timezone.now(),
                    channel_id=message.channel_id,
                    conversation_id=message.conversation_id,
                    contact_id=message.contact_id,
                    message_id=message.pk,
                    facts={"status": "read", "error_code": None, "error_title": None},
                )
            ]
        )
    return Event.objects.get(message_id=message.pk)


def test_a_thin_payload_names_the_event_and_its_ids_and_facts_and_no_content(channel_a: Channel) -> None:
    message = message_make(channel_a, body="a secret order")
    event = _status_event(message)

    (payload,) = events_payloads([event], mode=PayloadMode.THIN)

    assert payload["id"] == f"evt_{event.pk.hex}"
    assert (payload["type"], payload["tenant"]) == ("message.status", str(channel_a.tenant_id))
    assert payload["timestamp"].endswith("Z")
    assert payload["data"] == {
        "channel": str(channel_a.pk),
        "conversation": str(message.conversation_id),
        "contact": str(message.contact_id),
        "message": str(message.pk),
        "status": "read",
        "error_code": None,
        "error_title": None,
        "payload": "thin",
    }
    assert b"a secret order" not in event_body(payload)


def test_a_full_payload_carries_the_message_as_the_api_shows_it(channel_a: Channel, tenant_a: Tenant) -> None:
    message = message_make(channel_a, body="a secret order")
    event = _status_event(message)

    (payload,) = events_payloads([event], mode=PayloadMode.FULL)

    detail = payload["data"]["message_detail"]
    assert payload["data"]["payload"] == "full"
    assert (detail["id"], detail["content"]) == (str(message.pk), {"body": "a secret order"})
    assert json.loads(event_body(payload)) == json.loads(json.dumps(payload, default=str))


def test_content_past_its_retention_goes_out_thin_even_in_full_mode(channel_a: Channel) -> None:
    message = message_make(channel_a, body="a secret order", content_expires_at=timezone.now() + timedelta(hours=1))
    event = _status_event(message)
    Message.objects.filter(pk=message.pk).update(content_expires_at=timezone.now() - timedelta(seconds=1))

    (payload,) = events_payloads([event], mode=PayloadMode.FULL)

    assert payload["data"]["payload"] == "thin"
    assert "message_detail" not in payload["data"]
    assert b"a secret order" not in event_body(payload)


def test_an_erased_message_goes_out_thin_with_its_ids(channel_a: Channel) -> None:
    message = message_make(channel_a)
    event = _status_event(message)
    message.contact.delete()

    (payload,) = events_payloads([event], mode=PayloadMode.FULL)

    assert (payload["data"]["payload"], payload["data"]["message"]) == ("thin", str(message.pk))
