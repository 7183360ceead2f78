"""What waits for its message and a webhook's value.errors become events, once: ``message.status_parked`` (the
parked row's id, never the provider id) and ``channel.error`` (Meta's code and title, never its free text)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounts.models import Tenant
from messaging.business_events import EventType
from messaging.models import Channel, ParkedStatus
from tests.events.emission_support import deliver, events_of, fixture_for, whatsapp_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_parked_status_is_an_event_once_naming_its_parked_row(tenant_a: Tenant, channel_a: Channel) -> None:
    at = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    document = whatsapp_status(channel_a, "wamid.NOT-STORED-YET", "delivered", at)

    deliver(channel_a, document)
    deliver(channel_a, document)

    [event] = events_of(EventType.MESSAGE_STATUS_PARKED)
    parked = ParkedStatus.objects.get()
    assert (event.tenant_id, event.channel_id, event.message_id, event.occurred_at) == (
        tenant_a.pk,
        channel_a.pk,
        None,
        at,
    )
    assert event.facts == {"status": "delivered", "parked": str(parked.pk)}
    assert "NOT-STORED-YET" not in repr(event.facts)


def test_a_webhooks_value_errors_are_a_channel_error_event_once(tenant_a: Tenant, channel_a: Channel) -> None:
    document = fixture_for(channel_a, "whatsapp_errors.json")

    deliver(channel_a, document)
    deliver(channel_a, document)

    [event] = events_of(EventType.CHANNEL_ERROR)
    assert (event.tenant_id, event.channel_id, event.message_id) == (tenant_a.pk, channel_a.pk, None)
    assert event.facts == {"error_code": 130429, "error_title": "Rate limit hit"}
