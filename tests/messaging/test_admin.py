"""Messaging in the admin: masked everywhere, credentials never revealed, content revealed only with a reason."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, MetaApp
from tests.webhooks.test_processing import FIXTURES
from webhooks.services import delivery_process
from webhooks.signature import signature_for

pytestmark = pytest.mark.django_db
SECRET = "admin-secret-" + "x" * 20
TOKEN = "EAAG-admin-token-" + "y" * 20


@pytest.fixture
def processed(tenant_a: Tenant) -> MetaApp:
    app = meta_app_register(tenant=tenant_a, name="A", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    channel_add(
        tenant=tenant_a,
        meta_app=app,
        platform="whatsapp",
        provider_id="106540352242922",
        access_token=TOKEN,
        actor=CLI_ACTOR,
    )
    body = (FIXTURES / "whatsapp_text.json").read_bytes()
    Client().post(
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )
    from webhooks.models import Delivery

    delivery_process(delivery_id=Delivery.objects.get().pk)
    return app


@pytest.mark.parametrize(
    "model",
    ["metaapp", "channel", "contact", "message", "quarantineditem", "channelevent", "parkedstatus", "parkedreceipt"],
)
def test_changelists_show_no_secret_and_no_content(operator_client: Client, processed: MetaApp, model: str) -> None:
    page = operator_client.get(reverse(f"admin:messaging_{model}_changelist")).content.decode()

    for plaintext in (SECRET, TOKEN, "16505551234", "wamid."):
        assert plaintext not in page


def test_change_pages_mask_values_and_credentials_cannot_be_revealed(
    operator_client: Client, processed: MetaApp
) -> None:
    channel = Channel.objects.get()
    for url in (
        reverse("admin:messaging_metaapp_change", args=[processed.pk]),
        reverse("admin:messaging_channel_change", args=[channel.pk]),
    ):
        page = operator_client.get(url).content.decode()
        assert SECRET not in page and TOKEN not in page
        assert "(encrypted)" in page

    reveal_url = reverse("admin:messaging_channel_change", args=[channel.pk]).removesuffix("change/") + "reveal/"
    reveal = operator_client.get(reveal_url)
    assert reveal.status_code == 403


def test_the_webhook_ledger_is_masked(operator_client: Client, processed: MetaApp) -> None:
    page = operator_client.get(reverse("admin:webhooks_delivery_changelist")).content.decode()

    assert "wamid." not in page and "16505551234" not in page
