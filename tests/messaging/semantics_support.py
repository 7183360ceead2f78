"""Meta's fixtures posted signed to the real endpoint and processed as the ingest worker does, and read back
through the API, for the tests of what the gateway makes of them (edits, profiles, receipts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.test import Client
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, MetaApp
from webhooks.models import Delivery
from webhooks.services import delivery_process
from webhooks.signature import signature_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
SECRET = "m" * 32
PAGE = "1234567890"
WA_TEST = "1122334455667"
WA_SHEENA = "106540352242922"
CHANNELS = [("whatsapp", WA_TEST), ("whatsapp", WA_SHEENA), ("messenger", PAGE), ("instagram", PAGE)]


def app_with_channels(tenant: Tenant) -> MetaApp:
    app = meta_app_register(tenant=tenant, name="Semantics", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    for platform, provider_id in CHANNELS:
        channel_add(
            tenant=tenant,
            meta_app=app,
            platform=platform,
            provider_id=provider_id,
            access_token="t" * 40,
            actor=CLI_ACTOR,
        )
    return app


def channel_of(app: MetaApp, platform: str) -> Channel:
    provider_id = {"whatsapp": WA_TEST, "messenger": PAGE, "instagram": PAGE}[platform]
    return Channel.objects.get(meta_app=app, platform=platform, provider_id=provider_id)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_document(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(fixture_bytes(name))
    return document


def compact(document: dict[str, Any]) -> bytes:
    """As Meta sends its bodies: compact, non-ASCII and slashes escaped."""
    return json.dumps(document, separators=(",", ":")).replace("/", "\\/").encode()


def post(app: MetaApp, body: bytes) -> dict[str, int]:
    """A signed POST to the real endpoint, then the processing the ingest worker runs for it; the outcomes that
    happened."""
    before = set(Delivery.objects.values_list("pk", flat=True))
    response = Client().post(
        f"/webhooks/meta/{app.app_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
    )
    assert response.status_code == 200
    (delivery,) = Delivery.objects.exclude(pk__in=before)
    return {outcome: count for outcome, count in delivery_process(delivery_id=delivery.pk).items() if count}


def reader(tenant: Tenant) -> APIClient:
    issued = api_key_issue(tenant=tenant, name="reader", scopes=[ApiScope.MESSAGES_READ, ApiScope.CONTACTS_READ])
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def results(client: APIClient, path: str) -> list[dict[str, Any]]:
    response = client.get(path)
    assert response.status_code == 200, response.content
    found: list[dict[str, Any]] = response.json()["results"]
    return found
