"""Quarantined items are replayed from their raw delivery once a channel claims them; never across apps."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from audit.models import AuditAction, AuditEvent
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Message, MetaApp, QuarantinedItem
from webhooks.management.commands.quarantine_replay import Command as QuarantineReplayCommand
from webhooks.models import Delivery
from webhooks.quarantine import (
    ALREADY_REPLAYED,
    REPLAYED,
    STILL_QUARANTINED,
    QuarantineReplayError,
    quarantined_item_replay,
)
from webhooks.services import delivery_process
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
SECRET = "q" * 32
PHONE_NUMBER_ID = "106540352242922"  # whatsapp_text.json
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="


def _app(tenant: Tenant, name: str) -> MetaApp:
    return meta_app_register(tenant=tenant, name=name, app_secret=SECRET, actor=CLI_ACTOR).meta_app


def _channel(tenant: Tenant, app: MetaApp) -> Channel:
    return channel_add(
        tenant=tenant,
        meta_app=app,
        platform="whatsapp",
        provider_id=PHONE_NUMBER_ID,
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )


def _deliver(app: MetaApp, fixture: str = "whatsapp_text.json") -> Delivery:
    body = (FIXTURES / fixture).read_bytes()
    response = Client().post(
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )
    assert response.status_code == 200
    delivery: Delivery | None = Delivery.objects.filter(meta_app=app).order_by("-received_at").first()
    assert delivery is not None
    delivery_process(delivery_id=delivery.pk)
    return delivery


@pytest.fixture
def app_a(tenant_a: Tenant) -> MetaApp:
    return _app(tenant_a, "A")


@pytest.fixture
def held(app_a: MetaApp) -> QuarantinedItem:
    """A WhatsApp text that arrived before its number was added as a channel."""
    _deliver(app_a)
    item: QuarantinedItem = QuarantinedItem.objects.get()
    assert (item.reason, item.routing_id, item.replayed_at) == ("no_channel", PHONE_NUMBER_ID, None)
    return item


def test_an_item_replays_into_a_message_once_its_channel_exists(
    held: QuarantinedItem, app_a: MetaApp, tenant_a: Tenant
) -> None:
    _channel(tenant_a, app_a)

    result = quarantined_item_replay(item_id=held.pk, actor=CLI_ACTOR)

    assert (result.outcome, result.detail) == (REPLAYED, "stored")
    message = Message.objects.get()
    assert (message.tenant, message.provider_message_id) == (tenant_a, WAMID)
    held.refresh_from_db()
    assert held.replayed_at is not None and held.replay_outcome == "stored"
    assert held.item_path.startswith("entry[0]")  # back on its own key
    event = AuditEvent.objects.get(action=AuditAction.QUARANTINE_REPLAYED)
    assert (event.tenant_id, event.target_id, event.details["outcome"]) == (tenant_a.pk, str(held.pk), REPLAYED)
    assert WAMID not in json.dumps(event.details)


def test_replaying_twice_stores_once(held: QuarantinedItem, app_a: MetaApp, tenant_a: Tenant) -> None:
    _channel(tenant_a, app_a)
    quarantined_item_replay(item_id=held.pk, actor=CLI_ACTOR)

    again = quarantined_item_replay(item_id=held.pk, actor=CLI_ACTOR)

    assert (again.outcome, again.detail) == (ALREADY_REPLAYED, "stored")
    assert Message.objects.count() == 1


def test_an_item_that_still_routes_nowhere_is_kept_unchanged(held: QuarantinedItem) -> None:
    before = QuarantinedItem.objects.values().get()

    result = quarantined_item_replay(item_id=held.pk, actor=CLI_ACTOR)

    assert (result.outcome, result.detail) == (STILL_QUARANTINED, "no_channel")
    assert "still routes nowhere" in result.message
    assert QuarantinedItem.objects.values().get() == before
    assert Message.objects.count() == 0


def test_a_channel_of_another_tenants_app_never_claims_the_item(
    held: QuarantinedItem, tenant_b: Tenant, app_a: MetaApp
) -> None:
    _channel(tenant_b, _app(tenant_b, "B"))  # the same number, added to another tenant's app

    result = quarantined_item_replay(item_id=held.pk, actor=CLI_ACTOR)

    assert result.outcome == STILL_QUARANTINED
    assert Message.objects.count() == 0


def test_a_replay_needs_the_raw_delivery(held: QuarantinedItem, app_a: MetaApp, tenant_a: Tenant) -> None:
    _channel(tenant_a, app_a)
    Delivery.objects.filter(pk=held.delivery_id).delete()

    with pytest.raises(QuarantineReplayError, match="is gone") as raised:
        quarantined_item_replay(item_id=held.pk, actor=CLI_ACTOR)

    assert WAMID not in str(raised.value)
    held.refresh_from_db()
    assert held.replayed_at is None
    assert not AuditEvent.objects.filter(action=AuditAction.QUARANTINE_REPLAYED).exists()


def test_the_command_replays_everything_pending_with_progress(
    held: QuarantinedItem, app_a: MetaApp, tenant_a: Tenant
) -> None:
    _channel(tenant_a, app_a)
    out = StringIO()

    call_command("quarantine_replay", "--all", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == f"[1/1] {held.pk}: replayed: stored"
    assert lines[-1].startswith("1 replayed, 0 still_quarantined")
    assert Message.objects.count() == 1
    out = StringIO()
    call_command("quarantine_replay", "--all", stdout=out)
    assert out.getvalue().strip() == "Nothing to replay."


def test_the_command_prints_json_and_fails_when_an_item_cannot_be_replayed(held: QuarantinedItem) -> None:
    out, err = StringIO(), StringIO()
    call_command("quarantine_replay", "--id", str(held.pk), "--json", stdout=out, stderr=err)
    document = json.loads(out.getvalue())
    assert document["items"] == [{"id": str(held.pk), "outcome": STILL_QUARANTINED, "detail": "no_channel"}]
    assert document["totals"][STILL_QUARANTINED] == 1
    assert f"[1/1] {held.pk}" in err.getvalue()

    Delivery.objects.all().delete()
    with pytest.raises(CommandError, match="1 item"):
        call_command("quarantine_replay", "--id", str(held.pk), stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="not a quarantined item id"):
        call_command("quarantine_replay", "--id", "nonsense", stdout=StringIO())


def test_the_command_help_explains_the_outcomes() -> None:
    text = QuarantineReplayCommand().create_parser("manage.py", "quarantine_replay").format_help()

    for word in ("--all", "--id", "--json", "still_quarantined", "retention", "audit"):
        assert word in text


def test_the_admin_action_replays_and_is_audited(
    operator_client: Client, held: QuarantinedItem, app_a: MetaApp, tenant_a: Tenant
) -> None:
    _channel(tenant_a, app_a)
    changelist = reverse("admin:messaging_quarantineditem_changelist")

    response = operator_client.post(changelist, {"action": "replay", "_selected_action": [str(held.pk)]}, follow=True)

    assert response.status_code == 200
    assert "Replayed 1 item(s)" in response.content.decode()
    assert Message.objects.count() == 1
    event = AuditEvent.objects.get(action=AuditAction.QUARANTINE_REPLAYED)
    assert event.actor_label == "operator@gateway.example"
    page = operator_client.get(changelist).content.decode()
    assert WAMID not in page and "16505551234" not in page


def test_the_admin_action_reports_an_item_it_cannot_replay(operator_client: Client, held: QuarantinedItem) -> None:
    Delivery.objects.all().delete()

    response = operator_client.post(
        reverse("admin:messaging_quarantineditem_changelist"),
        {"action": "replay", "_selected_action": [str(held.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert "is gone" in response.content.decode()
