"""Expiry stamped at write time from the policy in force (messages, media, raw deliveries, quarantine, sends),
and recomputed on delivery and read in the status engine's one statement per batch (never raised)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from encryption import keyring
from encryption.envelope import key_id_of
from encryption.models import DataKey, Purpose
from messaging import lifetimes
from messaging.channels import meta_app_register
from messaging.models import (
    Channel,
    MediaAttachment,
    Message,
    MessageStatus,
    QuarantinedItem,
    content_day_bucket,
)
from messaging.outbound.requests import message_send
from messaging.providers.sending import SendRequest
from messaging.statuses import StatusReport, statuses_apply
from policies.retention.services import retention_policy_update
from tests.policies.conftest import (
    APP_SECRET,
    channel_create,
    deliver,
    whatsapp_body,
    whatsapp_status,
    whatsapp_text,
)
from webhooks.models import Delivery
from webhooks.signature import signature_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("installation_limits")]
DAY = timedelta(days=1)


def _policy(tenant: Tenant, channel: Channel | None = None, **values: Any) -> None:
    retention_policy_update(tenant=tenant, channel=channel, actor=CLI_ACTOR, values=values)


def _image(channel: Channel, wamid: str) -> bytes:
    image = {
        "id": "1003383421387256",
        "mime_type": "image/jpeg",
        "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
    }
    message = {"from": "16505551234", "id": wamid, "timestamp": "1750000000", "type": "image", "image": image}
    return whatsapp_body(
        channel, {"contacts": [{"profile": {"name": "Ada"}, "wa_id": "16505551234"}], "messages": [message]}
    )


def _sent(tenant: Tenant, channel: Channel, *, at: datetime, wamid: str) -> Message:
    """An outbound template queued at ``at`` through the send service, then accepted by Meta as ``wamid``."""
    request = SendRequest(
        channel_id=channel.pk, message_type="template", payload={"name": "welcome", "language": "en"}, to="16505551234"
    )
    message = message_send(tenant=tenant, request=request, now=at)
    message.provider_message_id = wamid
    message.status = MessageStatus.ACCEPTED
    message.save(update_fields=["provider_message_id", "provider_message_index", "status"])
    return message


def _report(channel: Channel, wamid: str, status: str, at: datetime) -> StatusReport:
    return StatusReport(
        channel=channel, provider_message_id=wamid, status=status, provider_timestamp=at, received_at=timezone.now()
    )


def _whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


# --- inbound ---------------------------------------------------------------------------------------------------


def test_inbound_messages_are_stamped_from_the_policy_in_force(tenant_a: Tenant, channel_a: Channel) -> None:
    _policy(tenant_a, content_max_days=30, metadata_days=400)
    received = datetime(2026, 10, 1, 22, 30, tzinfo=UTC)

    deliver(channel_a, whatsapp_text(channel_a, "wamid.STAMP"), received_at=received)

    message = Message.objects.get()
    assert message.received_at == received
    assert message.content_expires_at == received + 30 * DAY
    assert message.content_key_day == datetime(2026, 10, 31, tzinfo=UTC).date()
    assert message.metadata_expires_at == received + 400 * DAY
    assert (message.delivered_at, message.read_at, message.content_purged_at, message.hold_id) == (None,) * 4
    # The content is sealed under the key of the day after its last day, not the installation's maximum.
    assert content_day_bucket(message) == "2026-11-01"
    bucket_key = DataKey.objects.get(owner=keyring.owner_of(tenant_a.pk), purpose=Purpose.CONTENT, scope="2026-11-01")
    sealed = Message.objects.values_list("content", flat=True).get()
    assert sealed is not None and key_id_of(bytes(sealed)) == bucket_key.pk


def test_a_channel_override_stamps_its_own_channel_only(tenant_a: Tenant, channel_a: Channel) -> None:
    other = channel_create(tenant_a, "3003003003")
    _policy(tenant_a, content_max_days=30)
    _policy(tenant_a, other, content_max_days=7)
    received = timezone.now() - DAY

    deliver(channel_a, whatsapp_text(channel_a, "wamid.TENANT"), received_at=received)
    deliver(other, whatsapp_text(other, "wamid.OVERRIDE"), received_at=received)

    expiry = dict(Message.objects.values_list("channel_id", "content_expires_at"))
    assert expiry == {channel_a.pk: received + 30 * DAY, other.pk: received + 7 * DAY}


@pytest.mark.parametrize(("media_days", "lives_days"), [(10, 10), (60, 30)])
def test_media_lives_by_its_lifetime_but_never_past_its_messages_content(
    tenant_a: Tenant, channel_a: Channel, media_days: int, lives_days: int
) -> None:
    _policy(tenant_a, content_max_days=30, media_days=media_days)
    received = timezone.now() - DAY

    deliver(channel_a, _image(channel_a, "wamid.IMAGE"), received_at=received)

    attachment = MediaAttachment.objects.get()
    message = Message.objects.get()
    assert attachment.expires_at == received + lives_days * DAY
    assert (attachment.content_key_day, attachment.hold_id) == (message.content_key_day, None)
    assert content_day_bucket(attachment) == content_day_bucket(message)


def test_raw_deliveries_and_quarantined_items_live_by_the_raw_lifetime(tenant_a: Tenant, channel_a: Channel) -> None:
    _policy(tenant_a, raw_delivery_days=3)
    unknown_line = Channel(tenant=tenant_a, provider_id="999000999")  # no such channel: its items are quarantined

    delivery = deliver(channel_a, whatsapp_text(unknown_line, "wamid.NOBODY"))

    assert delivery.expires_at == delivery.received_at + 3 * DAY
    item = QuarantinedItem.objects.get()
    assert item.expires_at == delivery.received_at + 3 * DAY


def test_a_shared_apps_raw_deliveries_live_by_the_installation_limit(db: None, settings: Settings) -> None:
    settings.GATEWAY_RAW_DELIVERY_DAYS = 2
    shared = meta_app_register(tenant=None, name="Shared", app_secret=APP_SECRET, actor=CLI_ACTOR).meta_app
    body = b'{"object":"whatsapp_business_account","entry":[]}'

    from django.test import Client

    Client().post(
        f"/webhooks/meta/{shared.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(APP_SECRET, body),
    )

    delivery = Delivery.objects.get()
    assert delivery.expires_at == delivery.received_at + 2 * DAY


def test_the_webhook_edge_stamps_expiry_without_an_extra_query_per_request(
    tenant_a: Tenant, channel_a: Channel, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setattr(lifetimes, "CACHE_SECONDS", 3600.0)  # the caches must not lapse between the two posts
    settings.GATEWAY_WEBHOOK_APP_CACHE_SECONDS = 3600
    _policy(tenant_a, raw_delivery_days=3)
    body = whatsapp_text(channel_a, "wamid.EDGE")
    from django.test import Client

    def post() -> int:
        return (
            Client()
            .post(
                f"/webhooks/meta/{channel_a.meta_app.app_key}/",
                body,
                content_type="application/json",
                HTTP_X_HUB_SIGNATURE_256=signature_for(APP_SECRET, body),
            )
            .status_code
        )

    with CaptureQueriesContext(connection) as first:
        assert post() == 200  # warms the app and lifetimes caches
    with CaptureQueriesContext(connection) as second:
        assert post() == 200

    assert sum('FROM "policies_retentionpolicy"' in query["sql"] for query in first.captured_queries) == 1
    # Keys made inside this test's transaction are cached only once it commits (it never does): those lookups
    # are the test's, not the edge's. Anything else would be a query per request.
    statements = [query["sql"] for query in second.captured_queries if '"encryption_' not in query["sql"]]
    assert len(statements) == 1 and statements[0].startswith('INSERT INTO "webhooks_delivery"')
    assert [delivery.expires_at - delivery.received_at for delivery in Delivery.objects.all()] == [3 * DAY] * 2


# --- outbound --------------------------------------------------------------------------------------------------


def test_sends_are_stamped_and_a_scheduled_one_counts_from_when_it_is_due(tenant_a: Tenant, channel_a: Channel) -> None:
    _policy(tenant_a, content_max_days=5, metadata_days=50)
    now = timezone.now()
    send_at = now + 20 * DAY
    request = SendRequest(
        channel_id=channel_a.pk,
        message_type="template",
        payload={"name": "welcome", "language": "en"},
        to="16505551234",
    )

    immediate = message_send(tenant=tenant_a, request=request, now=now)
    scheduled = message_send(tenant=tenant_a, request=SendRequest(**{**vars(request), "send_at": send_at}), now=now)

    assert (immediate.content_expires_at, immediate.metadata_expires_at) == (now + 5 * DAY, now + 50 * DAY)
    assert immediate.content_key_day == (now + 5 * DAY).astimezone(UTC).date()
    assert (scheduled.content_expires_at, scheduled.metadata_expires_at) == (send_at + 5 * DAY, send_at + 50 * DAY)
    assert scheduled.content_key_day == (send_at + 5 * DAY).astimezone(UTC).date()
    assert Message.objects.get(pk=scheduled.pk).content["template"]["name"] == "welcome"


# --- recomputed on delivery and read ----------------------------------------------------------------------------


def test_purge_on_delivery_expires_the_content_when_the_recipient_has_it(tenant_a: Tenant, channel_a: Channel) -> None:
    _policy(tenant_a, purge_content_on_delivery=True)
    message = _sent(tenant_a, channel_a, at=timezone.now() - timedelta(hours=2), wamid="wamid.POD")
    delivered = _whole_seconds(timezone.now() - timedelta(hours=1))

    deliver(channel_a, whatsapp_status(channel_a, "wamid.POD", "delivered", delivered))
    deliver(channel_a, whatsapp_status(channel_a, "wamid.POD", "read", delivered + timedelta(minutes=5)))

    row = Message.objects.values("status", "delivered_at", "read_at", "content_expires_at").get(pk=message.pk)
    assert row == {
        "status": MessageStatus.READ,  # matched by its blind index: nothing was opened
        "delivered_at": delivered,
        "read_at": delivered + timedelta(minutes=5),
        "content_expires_at": delivered,
    }


def test_content_goes_a_while_after_delivery_and_a_later_read_does_not_extend_it(
    tenant_a: Tenant, channel_a: Channel
) -> None:
    _policy(tenant_a, content_days_after_delivery=2)
    message = _sent(tenant_a, channel_a, at=timezone.now() - DAY, wamid="wamid.AFTER")
    delivered = _whole_seconds(timezone.now() - timedelta(hours=3))

    deliver(channel_a, whatsapp_status(channel_a, "wamid.AFTER", "delivered", delivered))
    deliver(channel_a, whatsapp_status(channel_a, "wamid.AFTER", "read", delivered + timedelta(hours=1)))

    message = Message.objects.get(pk=message.pk)
    assert message.content_expires_at == delivered + 2 * DAY


def test_disappearing_messages_expire_after_read_whatever_order_the_statuses_come_in(
    tenant_a: Tenant, channel_a: Channel
) -> None:
    _policy(tenant_a, disappearing_seconds_after_read=600)
    sent_at = timezone.now() - DAY
    message = _sent(tenant_a, channel_a, at=sent_at, wamid="wamid.GONE")
    read = _whole_seconds(timezone.now() - timedelta(hours=2))

    statuses_apply([_report(channel_a, "wamid.GONE", MessageStatus.READ, read)])
    statuses_apply([_report(channel_a, "wamid.GONE", MessageStatus.DELIVERED, read - timedelta(minutes=1))])

    message = Message.objects.get(pk=message.pk)
    assert (message.read_at, message.delivered_at) == (read, read - timedelta(minutes=1))
    assert message.content_expires_at == read + timedelta(seconds=600)


def test_expiry_is_never_raised_and_the_first_delivery_wins(tenant_a: Tenant, channel_a: Channel) -> None:
    _policy(tenant_a, content_days_after_delivery=30)
    message = _sent(tenant_a, channel_a, at=timezone.now() - DAY, wamid="wamid.EARLY")
    earlier = timezone.now() - timedelta(minutes=30)
    Message.objects.filter(pk=message.pk).update(content_expires_at=earlier)
    first = _whole_seconds(timezone.now() - timedelta(minutes=20))

    statuses_apply([_report(channel_a, "wamid.EARLY", MessageStatus.DELIVERED, first)])
    statuses_apply([_report(channel_a, "wamid.EARLY", MessageStatus.DELIVERED, first - timedelta(minutes=5))])

    message = Message.objects.get(pk=message.pk)
    assert (message.content_expires_at, message.delivered_at) == (earlier, first)


def test_without_a_delivery_rule_the_maximum_stands(tenant_a: Tenant, channel_a: Channel) -> None:
    _policy(tenant_a, content_max_days=30)
    sent_at = timezone.now() - DAY
    message = _sent(tenant_a, channel_a, at=sent_at, wamid="wamid.MAX")

    statuses_apply([_report(channel_a, "wamid.MAX", MessageStatus.READ, _whole_seconds(timezone.now()))])

    message = Message.objects.get(pk=message.pk)
    assert message.read_at is not None and message.content_expires_at == sent_at + 30 * DAY


def test_a_messages_media_follows_its_content_forward(tenant_a: Tenant, channel_a: Channel) -> None:
    _policy(tenant_a, purge_content_on_delivery=True)
    message = _sent(tenant_a, channel_a, at=timezone.now() - DAY, wamid="wamid.MEDIA")
    attachment = MediaAttachment.objects.create(
        tenant=tenant_a,
        message=message,
        position=0,
        received_at=message.received_at,
        kind="image",
        source_reference="1003383421387256",
        expires_at=message.content_expires_at,
        content_key_day=message.content_key_day,
    )
    delivered = _whole_seconds(timezone.now() - timedelta(minutes=10))

    statuses_apply([_report(channel_a, "wamid.MEDIA", MessageStatus.DELIVERED, delivered)])

    assert MediaAttachment.objects.get(pk=attachment.pk).expires_at == delivered


def test_a_batch_of_statuses_moves_its_messages_in_one_update(tenant_a: Tenant, channel_a: Channel) -> None:
    _policy(tenant_a, disappearing_seconds_after_read=60)
    wamids = [f"wamid.BATCH{index}" for index in range(3)]
    messages = [_sent(tenant_a, channel_a, at=timezone.now() - DAY, wamid=wamid) for wamid in wamids]
    read = _whole_seconds(timezone.now())
    reports = [_report(channel_a, wamid, MessageStatus.READ, read) for wamid in wamids]
    reports.append(_report(channel_a, wamids[0], MessageStatus.DELIVERED, read - timedelta(seconds=5)))

    with CaptureQueriesContext(connection) as queries:
        statuses_apply(reports)

    updates = [
        query["sql"] for query in queries.captured_queries if query["sql"].startswith('UPDATE "messaging_message"')
    ]
    assert len(updates) == 1
    rows = Message.objects.filter(pk__in=[message.pk for message in messages]).order_by("provider_timestamp")
    assert {(row.status, row.read_at, row.content_expires_at) for row in rows} == {
        (MessageStatus.READ, read, read + timedelta(seconds=60))
    }
    assert Message.objects.get(pk=messages[0].pk).delivered_at == read - timedelta(seconds=5)


def test_statuses_of_unknown_messages_are_still_parked(tenant_a: Tenant, channel_a: Channel) -> None:
    _policy(tenant_a, purge_content_on_delivery=True)
    outcome = statuses_apply([_report(channel_a, f"wamid.{uuid.uuid4().hex}", MessageStatus.DELIVERED, timezone.now())])

    assert outcome == {"parked": 1}
