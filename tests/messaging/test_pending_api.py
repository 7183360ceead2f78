"""What waits for its message, and a webhook's value.errors, through the API: a signed POST of Meta's fixture,
then the tenant's list; another tenant's key lists nothing; once applied, a parked status is gone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from accounts.models import Tenant
from messaging.contacts import ContactWanted, contact_for, conversation_for
from messaging.models import Direction, Message, MessageStatus, MetaApp
from messaging.outbound.dispatch.transitions import message_accept
from tests.messaging.semantics_support import (
    PAGE,
    app_with_channels,
    channel_of,
    compact,
    fixture_bytes,
    fixture_document,
    post,
    reader,
    results,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    return app_with_channels(tenant_a)


def test_a_status_for_a_message_not_stored_is_listed_until_its_message_appears(
    app: MetaApp, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    assert post(app, fixture_bytes("whatsapp_status_delivered.json")) == {"parked": 1}
    channel = channel_of(app, "whatsapp")

    [parked] = results(reader(tenant_a), "/api/v1/parked-statuses/")

    assert (parked["channel"], parked["provider_message_id"], parked["status"]) == (
        str(channel.pk),
        "wamid.xyzxyz",
        "delivered",
    )
    assert parked["provider_timestamp"] == "2023-10-25T20:49:05Z"
    assert datetime.fromisoformat(parked["expires_at"]) > timezone.now()
    assert results(reader(tenant_a), f"/api/v1/parked-statuses/?channel={channel.pk}") == [parked]
    assert results(reader(tenant_b), "/api/v1/parked-statuses/") == []

    contact = contact_for(ContactWanted(channel=channel, external_id="972987654321"))
    sent = Message.objects.create(
        tenant=tenant_a,
        channel=channel,
        conversation=conversation_for(channel=channel, contact=contact),
        contact=contact,
        direction=Direction.OUTBOUND,
        message_type="text",
        status=MessageStatus.SENDING,
        received_at=timezone.now(),
        provider_timestamp=timezone.now(),
        content={"text": "hello"},
    )
    message_accept(sent, provider_message_id="wamid.xyzxyz")

    assert results(reader(tenant_a), "/api/v1/parked-statuses/") == []
    sent.refresh_from_db()
    assert sent.status == MessageStatus.DELIVERED


def test_a_webhooks_value_errors_are_listed_as_channel_events(app: MetaApp, tenant_a: Tenant, tenant_b: Tenant) -> None:
    post(app, fixture_bytes("whatsapp_errors.json"))
    post(app, fixture_bytes("whatsapp_errors.json"))  # redelivered: kept once

    [news] = results(reader(tenant_a), "/api/v1/channel-events/?field=errors")

    assert news["field"] == "errors"
    assert (news["payload"]["code"], news["payload"]["title"]) == (130429, "Rate limit hit")
    assert results(reader(tenant_a), "/api/v1/channel-events/?field=account_update") == []
    assert results(reader(tenant_b), "/api/v1/channel-events/") == []


def test_a_kept_watermark_is_listed_with_its_contact(app: MetaApp, tenant_a: Tenant) -> None:
    document = fixture_document("messenger_read.json")
    document["entry"][0]["id"] = PAGE
    document["entry"][0]["messaging"][0]["recipient"]["id"] = PAGE
    post(app, compact(document))

    [kept] = results(reader(tenant_a), "/api/v1/parked-receipts/")
    [contact] = results(reader(tenant_a), "/api/v1/contacts/")

    assert (kept["contact"], kept["status"]) == (contact["id"], "read")
    assert kept["watermark"] == datetime.fromtimestamp(1458668856.253, UTC).isoformat().replace("+00:00", "Z")


def test_a_bad_channel_filter_is_a_problem_not_an_error(app: MetaApp, tenant_a: Tenant) -> None:
    response = reader(tenant_a).get("/api/v1/parked-statuses/?channel=not-a-uuid")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
