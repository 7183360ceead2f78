"""A tenant's WhatsApp channel on a WhatsApp Business Account, its twin in the real simulator (Graph for the
template calls), API clients, and the simulator's template controls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel
from tests.conftest import wait_for
from tests.simulator.conftest import SimulatorClient

WABA_ID = "102290129340398"
TOKEN = "EAAG-template-token-" + "t" * 20
APP_SECRET = "template-app-secret-" + "s" * 12
TEMPLATES_URL = "/api/v1/templates/"
SEND_URL = "/api/v1/messages/"
GRAPH_TEMPLATES = f"/v25.0/{WABA_ID}/message_templates"
BODY = {"type": "BODY", "text": "Hello {{1}}, your order {{2}} is on its way."}


@dataclass
class Account:
    tenant: Tenant
    channel: Channel
    simulator: SimulatorClient


def account_on_simulator(
    simulator: SimulatorClient,
    tenant: Tenant,
    *,
    provider_id: str = "106540352242922",
    waba_id: str = WABA_ID,
    **simulator_fields: Any,
) -> Account:
    """The gateway channel (with its account id) and its simulator twin with the same token."""
    app = meta_app_register(tenant=tenant, name=f"App {provider_id}", app_secret=APP_SECRET, actor=CLI_ACTOR).meta_app
    channel = channel_add(
        tenant=tenant,
        meta_app=app,
        platform="whatsapp",
        provider_id=provider_id,
        access_token=TOKEN,
        actor=CLI_ACTOR,
        waba_id=waba_id,
    )
    simulator.channel_add(
        provider_id=provider_id,
        access_token=TOKEN,
        app_secret=APP_SECRET,
        waba_id=waba_id,
        enforce_window=False,
        pair_period_seconds=0,
        **simulator_fields,
    )
    review(simulator, delay_seconds=0)
    return Account(tenant=tenant, channel=channel, simulator=simulator)


def client_for(tenant: Tenant, *scopes: str) -> APIClient:
    issued = api_key_issue(tenant=tenant, name="templates", scopes=list(scopes))
    client = APIClient(REMOTE_ADDR="203.0.113.8")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def review(simulator: SimulatorClient, **plan: Any) -> None:
    response = simulator.request("POST", "/_sim/templates/review", plan)
    assert response.status == 200, response.body


def simulator_templates(simulator: SimulatorClient) -> list[dict[str, Any]]:
    return list(simulator.request("GET", "/_sim/templates").body["templates"])


def simulator_status(simulator: SimulatorClient, name: str, language: str = "en_US") -> str | None:
    for template in simulator_templates(simulator):
        if (template["name"], template["language"]) == (name, language):
            return str(template["status"])
    return None


def simulator_create(simulator: SimulatorClient, name: str, *, language: str = "en_US", **fields: Any) -> str:
    """A template made at Meta directly (not through the gateway); waits for its review. Returns its id."""
    definition = {"name": name, "language": language, "category": "UTILITY", "components": [BODY], **fields}
    response = simulator.request("POST", GRAPH_TEMPLATES, definition, token=TOKEN)
    assert response.status == 200, response.body
    assert wait_for(lambda: simulator_status(simulator, name, language) != "PENDING", seconds=10)
    return str(response.body["id"])


def simulator_move(simulator: SimulatorClient, name: str, language: str = "en_US", **change: str) -> None:
    body = {"waba_id": WABA_ID, "name": name, "language": language, **change}
    response = simulator.request("POST", "/_sim/templates/status", body)
    assert response.status == 200, response.body


def template_send(channel: Channel, name: str, *components: dict[str, Any], to: str = "+16505551234") -> dict[str, Any]:
    template = {"name": name, "language": "en_US", "components": list(components)}
    return {"channel": str(channel.pk), "to": to, "type": "template", "template": template}


def body_parameters(*values: str) -> dict[str, Any]:
    return {"type": "body", "parameters": [{"type": "text", "text": value} for value in values]}
