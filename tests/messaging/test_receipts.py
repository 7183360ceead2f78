"""Messenger and Instagram receipts: a watermark moves every message Meta has that was sent to the person up to
it, and is kept for the messages that appear after it (an echo, a send Meta accepts late), as a receipt naming
a message not stored yet waits for it; redelivered, nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Tenant
from messaging.contacts import ContactWanted, contact_for, conversation_for
from messaging.models import (
    PARKED_STATUS_WINDOW,
    Channel,
    Direction,
    Message,
    MessageStatus,
    MetaApp,
    ParkedReceipt,
    ParkedStatus,
    StatusEvent,
)
from messaging.outbound.dispatch.transitions import message_accept
from policies.retention.purge.kinds import parked_receipt_batch
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

WATERMARK = datetime.fromtimestamp(1458668856.253, UTC)  # messenger_read.json and messenger_delivery.json
DELIVERED_MID = "mid.1458668856218:ed81099e15d3f4f233"  # named by messenger_delivery.json


@pytest.fixture
def app(tenant_a: Tenant) -> MetaApp:
    return app_with_channels(tenant_a)


def _read_from(user: str) -> bytes:
    """Meta's read example, addressed to the test page, from ``user``."""
    document: dict[str, Any] = fixture_document("messenger_read.json")
    document["entry"][0]["id"] = PAGE
    event = document["entry"][0]["messaging"][0]
    event["sender"]["id"], event["recipient"]["id"] = user, PAGE
    return compact(document)


def _echo(*, mid: str, to: str, at_ms: int) -> bytes:
    """Meta's echo example (a message the page sent elsewhere), addressed to the test page."""
    document: dict[str, Any] = fixture_document("messenger_echo.json")
    document["entry"][0]["id"] = PAGE
    event = document["entry"][0]["messaging"][0]
    event["sender"]["id"], event["recipient"]["id"], event["timestamp"] = PAGE, to, at_ms
    event["message"]["mid"] = mid
    return compact(document)


def _queued_send(channel: Channel, to: str, at: datetime) -> Message:
    """A send the gateway made, not yet accepted by Meta."""
    contact = contact_for(ContactWanted(channel=channel, external_id=to))
    return Message.objects.create(
        tenant=channel.tenant,
        channel=channel,
        conversation=conversation_for(channel=channel, contact=contact),
        contact=contact,
        direction=Direction.OUTBOUND,
        message_type="text",
        status=MessageStatus.SENDING,
        received_at=timezone.now(),
        provider_timestamp=at,
        content={"text": "sent by the gateway"},
    )


def _status(tenant: Tenant, mid: str) -> str:
    [shown] = results(reader(tenant), f"/api/v1/messages/?provider_message_id={mid}")
    return str(shown["status"])


def test_a_read_watermark_before_the_echo_it_covers_applies_when_the_echo_appears(
    app: MetaApp, tenant_a: Tenant
) -> None:
    assert post(app, _read_from("7788")) == {"receipt": 1}
    [kept] = ParkedReceipt.objects.all()
    assert (kept.status, kept.watermark) == ("read", WATERMARK)

    post(app, _echo(mid="m_before", to="7788", at_ms=1458668856000))
    post(app, _echo(mid="m_after", to="7788", at_ms=1458668857000))  # after the watermark: not read
    post(app, _echo(mid="m_other_person", to="9900", at_ms=1458668856000))

    assert _status(tenant_a, "m_before") == "read"
    assert _status(tenant_a, "m_after") == "sent"
    assert _status(tenant_a, "m_other_person") == "sent"


def test_a_watermark_after_the_messages_moves_those_meta_has_and_a_redelivery_nothing(
    app: MetaApp, tenant_a: Tenant
) -> None:
    post(app, _echo(mid="m_echoed", to="7788", at_ms=1458668856000))
    channel = channel_of(app, "messenger")
    queued = _queued_send(channel, "7788", datetime(2016, 3, 22, 17, 0, tzinfo=UTC))

    post(app, _read_from("7788"))
    assert post(app, _read_from("7788")) == {"receipt": 1}

    assert _status(tenant_a, "m_echoed") == "read"
    assert StatusEvent.objects.filter(status="read").count() == 1
    queued.refresh_from_db()
    assert queued.status == MessageStatus.SENDING  # not sent yet: a watermark says nothing about it

    message_accept(queued, provider_message_id="m_accepted_late")  # Meta's answer comes after the watermark

    queued.refresh_from_db()
    assert queued.status == MessageStatus.READ


def test_a_delivery_naming_a_message_not_stored_yet_waits_for_it(app: MetaApp, tenant_a: Tenant) -> None:
    assert post(app, fixture_bytes("messenger_delivery.json")) == {"receipt": 1}
    assert ParkedStatus.objects.count() == 1
    assert post(app, fixture_bytes("messenger_delivery.json")) == {"receipt": 1}
    assert ParkedStatus.objects.count() == 1

    # Sent elsewhere after the watermark, so only the mid the receipt names can move it.
    post(app, _echo(mid=DELIVERED_MID, to="5678", at_ms=1459991487000))

    assert _status(tenant_a, DELIVERED_MID) == "delivered"
    assert not ParkedStatus.objects.exists()


def test_kept_watermarks_go_after_their_window(app: MetaApp) -> None:
    post(app, _read_from("7788"))
    [kept] = ParkedReceipt.objects.all()

    parked_receipt_batch(kept.received_at + PARKED_STATUS_WINDOW, 100)

    assert not ParkedReceipt.objects.exists()
