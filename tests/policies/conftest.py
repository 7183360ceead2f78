"""Fixtures shared by the policies tests: a channel per tenant (on its own Meta app), API clients, and signed
webhooks posted through the real edge and processed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import delivery_process
from webhooks.signature import signature_for

APP_SECRET = "policy-app-secret-" + "s" * 16
PROVIDER_ID_A = "106540352242922"  # the phone_number_id of the WhatsApp fixtures
PROVIDER_ID_B = "2002002002"


def channel_create(tenant: Tenant, provider_id: str, *, platform: str = "whatsapp") -> Channel:
    """A channel of ``tenant`` on a Meta app of its own, signed with ``APP_SECRET``."""
    app = meta_app_register(tenant=tenant, name=f"App {provider_id}", app_secret=APP_SECRET, actor=CLI_ACTOR).meta_app
    return channel_add(
        tenant=tenant,
        meta_app=app,
        platform=platform,
        provider_id=provider_id,
        access_token="EAAG" + "t" * 40,
        actor=CLI_ACTOR,
        display_name=f"Line {provider_id}",
    )


@pytest.fixture
def installation_limits(settings: Settings) -> None:
    """The installation's retention limits at their defaults, whatever the environment running the tests sets."""
    settings.GATEWAY_CONTENT_MAX_DAYS = 365
    settings.GATEWAY_RAW_DELIVERY_DAYS = 7


@pytest.fixture
def channel_a(tenant_a: Tenant) -> Channel:
    return channel_create(tenant_a, PROVIDER_ID_A)


@pytest.fixture
def channel_b(tenant_b: Tenant) -> Channel:
    return channel_create(tenant_b, PROVIDER_ID_B)


@pytest.fixture
def api_client() -> Callable[..., APIClient]:
    """``api_client(tenant, *scopes)``: a client holding a fresh API key of that tenant with those scopes."""

    def make(tenant: Tenant, *scopes: str) -> APIClient:
        issued = api_key_issue(tenant=tenant, name="policies test", scopes=scopes)
        client = APIClient(REMOTE_ADDR="203.0.113.9")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
        return client

    return make


# --- webhooks through the real edge and pipeline -------------------------------------------------------------


def whatsapp_body(channel: Channel, value: dict[str, Any]) -> bytes:
    """A WhatsApp Cloud API webhook for ``channel`` carrying ``value`` (messages, statuses…)."""
    metadata = {"display_phone_number": "15550783881", "phone_number_id": channel.provider_id}
    change = {"value": {"messaging_product": "whatsapp", "metadata": metadata, **value}, "field": "messages"}
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": "1022901", "changes": [change]}]}
    ).encode()


def whatsapp_text(channel: Channel, wamid: str, *, sender: str = "16505551234") -> bytes:
    message = {"from": sender, "id": wamid, "timestamp": "1750000000", "type": "text", "text": {"body": "hello"}}
    return whatsapp_body(channel, {"contacts": [{"profile": {"name": "Ada"}, "wa_id": sender}], "messages": [message]})


def whatsapp_status(channel: Channel, wamid: str, status: str, at: datetime) -> bytes:
    report = {"id": wamid, "status": status, "timestamp": str(int(at.timestamp())), "recipient_id": "16505551234"}
    return whatsapp_body(channel, {"statuses": [report]})


def deliver(channel: Channel, body: bytes, *, received_at: datetime | None = None) -> Delivery:
    """POST ``body`` signed to the channel's app, then process it as the ingest worker would; ``received_at``
    back-dates the delivery first (time travel: everything it stores counts from then)."""
    response = Client().post(
        f"/webhooks/meta/{channel.meta_app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(APP_SECRET, body),
    )
    assert response.status_code == 200
    delivery = Delivery.objects.filter(status=DeliveryStatus.RECEIVED).order_by("-created_at").first()
    assert delivery is not None
    if received_at is not None:
        Delivery.objects.filter(pk=delivery.pk).update(received_at=received_at)
    delivery_process(delivery_id=delivery.pk)
    return Delivery.objects.get(pk=delivery.pk)
