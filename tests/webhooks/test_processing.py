"""Stored deliveries become contacts, messages, statuses, channel events or quarantined items, exactly once."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import (
    Channel,
    ChannelEvent,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MetaApp,
    ParkedStatus,
    QuarantinedItem,
    StatusEvent,
)
from webhooks import services as webhook_services
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import deliveries_requeue_stale, delivery_process
from webhooks.signature import signature_for

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "meta"
SECRET = "s" * 32
CHANNELS = [
    ("whatsapp", "106540352242922"),
    ("whatsapp", "1122334455667"),
    ("whatsapp", "1234567890"),
    ("messenger", "1234567890"),
    ("instagram", "1234567890"),
]


@pytest.fixture
def app_a(tenant_a: Tenant) -> MetaApp:
    app = meta_app_register(tenant=tenant_a, name="A", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    for platform, provider_id in CHANNELS:
        channel_add(
            tenant=tenant_a,
            meta_app=app,
            platform=platform,
            provider_id=provider_id,
            access_token="t" * 40,
            actor=CLI_ACTOR,
        )
    return app


def _deliver(app: MetaApp, body: bytes) -> dict[str, int]:
    response = Client().post(
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )
    assert response.status_code == 200
    delivery = Delivery.objects.order_by("-received_at").first()
    assert delivery is not None
    return dict(delivery_process(delivery_id=delivery.pk))


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.django_db
def test_a_whatsapp_text_becomes_a_contact_a_conversation_and_a_message(app_a: MetaApp, tenant_a: Tenant) -> None:
    body = _fixture("whatsapp_text.json")
    document = json.loads(body)
    value = document["entry"][0]["changes"][0]["value"]
    sent = value["messages"][0]

    assert _deliver(app_a, body) == {"stored": 1, "problems": 0}

    message = Message.objects.get()
    assert (message.direction, message.message_type, message.status) == ("inbound", "text", "received")
    assert message.provider_message_id == sent["id"]
    assert message.content == sent
    assert int(message.provider_timestamp.timestamp()) == int(sent["timestamp"])
    contact = Contact.objects.get()
    assert (contact.tenant, contact.external_id) == (tenant_a, sent["from"])
    assert contact.profile == {"name": value["contacts"][0]["profile"]["name"]}
    assert Conversation.objects.get().last_inbound_at == message.provider_timestamp
    assert Delivery.objects.get().status == DeliveryStatus.PROCESSED


@pytest.mark.django_db
@pytest.mark.parametrize("fixture", sorted(path.name for path in FIXTURES.glob("*.json")))
def test_every_fixture_is_processed_without_problems_and_twice_changes_nothing(app_a: MetaApp, fixture: str) -> None:
    body = _fixture(fixture)

    first = _deliver(app_a, body)
    stored = (Message, Contact, StatusEvent, ParkedStatus, ChannelEvent)
    counts = {model.__name__: model.objects.count() for model in stored}
    second = _deliver(app_a, body)

    assert first["problems"] == 0
    assert sum(value for key, value in first.items() if key != "problems") >= 1
    # A redelivery is a new delivery: its unroutable items are held again; everything else is a no-op.
    assert set(second) <= {"duplicate", "problems", "receipt", "status", "quarantined", "history_expired"}
    assert second.get("quarantined", 0) == first.get("quarantined", 0)
    assert counts == {model.__name__: model.objects.count() for model in stored}


@pytest.mark.django_db
def test_the_same_message_twice_in_one_post_is_stored_once(app_a: MetaApp) -> None:
    assert _deliver(app_a, _fixture("whatsapp_duplicate_in_one_post.json")) == {
        "stored": 1,
        "duplicate": 1,
        "problems": 0,
    }
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_echoes_are_outbound_sent_elsewhere_never_inbound(app_a: MetaApp) -> None:
    _deliver(app_a, _fixture("messenger_echo.json"))
    _deliver(app_a, _fixture("instagram_echo.json"))

    assert Message.objects.filter(direction=Direction.INBOUND).count() == 0
    assert set(Message.objects.values_list("direction", "is_sent_elsewhere", "status")) == {("outbound", True, "sent")}


@pytest.mark.django_db
def test_statuses_for_unknown_messages_are_parked_then_move_forward_only(app_a: MetaApp) -> None:
    read_body = _fixture("whatsapp_status_read.json")
    status = json.loads(read_body)["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert _deliver(app_a, read_body) == {"parked": 1, "problems": 0}

    channel = Channel.objects.get(platform="whatsapp", provider_id="106540352242922")
    contact = Contact.objects.create(tenant=channel.tenant, platform="whatsapp", external_id=status["recipient_id"])
    conversation = Conversation.objects.create(tenant=channel.tenant, channel=channel, contact=contact)
    now = timezone.now()
    message = Message.objects.create(
        tenant=channel.tenant,
        channel=channel,
        conversation=conversation,
        contact=contact,
        direction=Direction.OUTBOUND,
        message_type="text",
        status=MessageStatus.SENT,
        received_at=now,
        provider_timestamp=now,
        provider_message_id=status["id"],
        content={"body": "hi"},
    )
    later_delivered = read_body.replace(b'"status": "read"', b'"status": "delivered"')

    assert _deliver(app_a, read_body.replace(b"}]}]}]}", b"}]}]}]} ")) == {"status": 1, "problems": 0}
    assert _deliver(app_a, later_delivered)["status"] == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.READ  # delivered after read does not go backwards
    assert set(StatusEvent.objects.values_list("status", flat=True)) == {"read", "delivered"}


@pytest.mark.django_db
def test_failed_is_terminal_but_may_follow_sent(app_a: MetaApp) -> None:
    from messaging.statuses import may_advance

    assert may_advance("sent", "failed") and may_advance("queued", "failed")
    assert not may_advance("failed", "read") and not may_advance("read", "failed")
    assert may_advance("sent", "read") and not may_advance("read", "delivered")


@pytest.mark.django_db
def test_a_tenant_app_cannot_reach_another_tenants_channel(app_a: MetaApp, tenant_b: Tenant) -> None:
    app_b = meta_app_register(tenant=tenant_b, name="B", app_secret="b" * 32, actor=CLI_ACTOR).meta_app
    channel_add(
        tenant=tenant_b,
        meta_app=app_b,
        platform="whatsapp",
        provider_id="555000111",
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )
    body = _fixture("whatsapp_text.json").replace(b"106540352242922", b"555000111")

    assert _deliver(app_a, body) == {"quarantined": 1, "problems": 0}
    assert Message.objects.filter(tenant=tenant_b).count() == 0
    item = QuarantinedItem.objects.get()
    assert (item.reason, item.routing_id, item.tenant_id) == ("no_channel", "555000111", app_a.tenant_id)


@pytest.mark.django_db
def test_a_shared_app_fans_one_post_out_to_two_tenants(tenant_a: Tenant, tenant_b: Tenant) -> None:
    shared = meta_app_register(tenant=None, name="Shared", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    for tenant, provider_id in ((tenant_a, "111000111"), (tenant_b, "222000222")):
        channel_add(
            tenant=tenant,
            meta_app=shared,
            platform="whatsapp",
            provider_id=provider_id,
            access_token="t" * 40,
            actor=CLI_ACTOR,
        )
    document = json.loads(_fixture("whatsapp_text.json"))
    second = json.loads(json.dumps(document["entry"][0]))
    document["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "111000111"
    second["changes"][0]["value"]["metadata"]["phone_number_id"] = "222000222"
    second["changes"][0]["value"]["messages"][0]["id"] = "wamid.OTHER"
    document["entry"].append(second)

    assert _deliver(shared, json.dumps(document).encode()) == {"stored": 2, "problems": 0}
    assert Message.objects.filter(tenant=tenant_a).count() == Message.objects.filter(tenant=tenant_b).count() == 1
    assert Contact.objects.filter(tenant=tenant_a).count() == Contact.objects.filter(tenant=tenant_b).count() == 1


@pytest.mark.django_db
def test_unknown_fields_and_unreadable_items_are_quarantined_encrypted(app_a: MetaApp) -> None:
    document = json.loads(_fixture("whatsapp_text.json"))
    document["entry"][0]["changes"].append(
        {
            "field": "mystery_field",
            "value": {"metadata": {"phone_number_id": "106540352242922"}, "secret": "canary-7731"},
        }
    )

    outcome = _deliver(app_a, json.dumps(document).encode())

    assert outcome["stored"] == 1 and outcome["quarantined"] == 1
    item = QuarantinedItem.objects.get()
    assert item.reason == "unhandled_field:mystery_field"
    assert item.payload["item"]["secret"] == "canary-7731"
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM messaging_quarantineditem")
        assert b"canary-7731" not in bytes(cursor.fetchone()[0])


@pytest.mark.django_db
def test_channel_events_and_value_errors_are_recorded(app_a: MetaApp) -> None:
    assert _deliver(app_a, _fixture("whatsapp_errors.json")) == {"channel_event": 1, "problems": 0}
    event = ChannelEvent.objects.get()
    assert event.field == "errors" and event.payload["code"] == 130429


@pytest.mark.django_db
def test_the_sweeper_republishes_deliveries_left_unprocessed(app_a: MetaApp, monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[Any] = []
    monkeypatch.setattr(webhook_services, "enqueue_on_commit", lambda task, *args: published.append(args))
    old = Delivery.objects.create(
        meta_app=app_a,
        tenant_id=app_a.tenant_id,
        body=b"{}",
        body_bytes=2,
        signature="",
        received_at=timezone.now() - timedelta(minutes=5),
    )
    Delivery.objects.create(
        meta_app=app_a, tenant_id=app_a.tenant_id, body=b"{}", body_bytes=2, signature="", received_at=timezone.now()
    )

    assert deliveries_requeue_stale(older_than=timedelta(minutes=2)) == 1
    assert published == [(old.pk,)]


@pytest.mark.django_db(transaction=True)
def test_two_workers_processing_the_same_delivery_store_each_item_once(app_a: MetaApp) -> None:
    body = _fixture("whatsapp_text.json")
    Client().post(
        f"/webhooks/meta/{app_a.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )
    delivery = Delivery.objects.get()
    barrier = threading.Barrier(2)

    def work() -> None:
        barrier.wait()
        try:
            delivery_process(delivery_id=delivery.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert (Message.objects.count(), Contact.objects.count(), Conversation.objects.count()) == (1, 1, 1)
