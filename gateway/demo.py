"""The demo set-up `make run` starts with: a Meta app with a WhatsApp number and a Messenger page, all
pointed at the local Meta simulator, an event endpoint on the simulator's receiver (which checks each event's
signature and prints it), and an API key with a ready-to-paste send.

Every run writes the simulator's file (the tokens and app secret it must check, and the endpoint's signing
secret, readable by this user only) and issues a fresh demo API key, revoking the previous one: a key is shown
only once.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue, api_key_revoke
from accounts.models import ApiKey, ApiScope, Tenant
from events.endpoints import SUBSCRIBABLE_TYPES, endpoint_create
from events.models import Endpoint
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, MetaApp, Platform

DEMO_APP_NAME = "Demo app (local simulator)"
DEMO_KEY_NAME = "make run demo"
DEMO_WHATSAPP_NUMBER_ID = "100000000000001"
DEMO_WHATSAPP_DISPLAY = "15550001111"
DEMO_PAGE_ID = "200000000000001"
DEMO_RECIPIENT = "+16505551234"
SIMULATOR_FILE = "simulator.json"
DEMO_ENDPOINT_DESCRIPTION = "make run demo: the simulator's event receiver"
RECEIVER_PATH = "/_sim/events"


@dataclass(frozen=True)
class DemoSetup:
    app: MetaApp
    whatsapp: Channel
    messenger: Channel
    endpoint: Endpoint
    api_key: str


def demo_provision(*, tenant: Tenant, gateway_url: str, simulator_url: str) -> DemoSetup:
    """Create what is missing (idempotent), issue a new demo key, write the simulator's file."""
    with transaction.atomic():
        app = (
            MetaApp.objects.filter(tenant=tenant, name=DEMO_APP_NAME).first()
            or meta_app_register(
                tenant=tenant, name=DEMO_APP_NAME, app_secret=secrets.token_urlsafe(24), actor=CLI_ACTOR
            ).meta_app
        )
        whatsapp = _channel(tenant, app, Platform.WHATSAPP, DEMO_WHATSAPP_NUMBER_ID, "Demo WhatsApp number")
        messenger = _channel(tenant, app, Platform.MESSENGER, DEMO_PAGE_ID, "Demo Facebook page")
        endpoint = _endpoint(tenant, simulator_url)
        api_key = _fresh_key(tenant)
    simulator_file_write(app=app, channels=[whatsapp, messenger], gateway_url=gateway_url, endpoint=endpoint)
    return DemoSetup(app=app, whatsapp=whatsapp, messenger=messenger, endpoint=endpoint, api_key=api_key)


def _channel(tenant: Tenant, app: MetaApp, platform: str, provider_id: str, name: str) -> Channel:
    existing = Channel.objects.filter(platform=platform, provider_id=provider_id).first()
    return existing or channel_add(
        tenant=tenant,
        meta_app=app,
        platform=platform,
        provider_id=provider_id,
        access_token=secrets.token_urlsafe(32),
        actor=CLI_ACTOR,
        display_name=name,
    )


def _endpoint(tenant: Tenant, simulator_url: str) -> Endpoint:
    """Every event type, thin, to the simulator's receiver (the demo's stand-in for a business's system)."""
    existing = Endpoint.objects.filter(tenant=tenant, description=DEMO_ENDPOINT_DESCRIPTION).first()
    return (
        existing
        or endpoint_create(
            tenant=tenant,
            values={
                "url": f"{simulator_url.rstrip('/')}{RECEIVER_PATH}",
                "description": DEMO_ENDPOINT_DESCRIPTION,
                "event_types": list(SUBSCRIBABLE_TYPES),
            },
            actor=CLI_ACTOR,
        ).endpoint
    )


def _fresh_key(tenant: Tenant) -> str:
    for old in ApiKey.objects.filter(tenant=tenant, name=DEMO_KEY_NAME, revoked_at__isnull=True):
        api_key_revoke(api_key=old, actor_label=CLI_ACTOR.label)
    issued = api_key_issue(
        tenant=tenant,
        name=DEMO_KEY_NAME,
        scopes=[
            ApiScope.MESSAGES_SEND,
            ApiScope.MESSAGES_READ,
            ApiScope.CONTACTS_READ,
            ApiScope.EVENTS_READ,
            ApiScope.EVENTS_MANAGE,
        ],
        actor_label=CLI_ACTOR.label,
    )
    return issued.plaintext


def simulator_file_path() -> Path:
    return Path(settings.VAR_DIR) / SIMULATOR_FILE


def simulator_file_write(*, app: MetaApp, channels: list[Channel], gateway_url: str, endpoint: Endpoint) -> Path:
    """The channels the simulator serves, with the secrets it checks and signs with, and the signing secrets its
    event receiver verifies with (mode 0600)."""
    webhook_url = f"{gateway_url.rstrip('/')}/webhooks/meta/{app.app_key}/"
    config = {
        "channels": [
            {
                "platform": channel.platform,
                "provider_id": channel.provider_id,
                "access_token": channel.access_token,
                "app_secret": app.app_secret,
                "webhook_url": webhook_url,
                **({"display_phone_number": DEMO_WHATSAPP_DISPLAY} if channel.platform == Platform.WHATSAPP else {}),
            }
            for channel in channels
        ],
        "event_receiver": {
            "secrets": [endpoint.secret, *([endpoint.previous_secret] if endpoint.previous_secret else [])]
        },
    }
    path = simulator_file_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
    os.chmod(path, 0o600)
    return path


def demo_curl(*, setup: DemoSetup, gateway_url: str) -> list[str]:
    """A send of Meta's stock template (allowed outside the 24-hour window), and how to watch its status."""
    body = {
        "channel": str(setup.whatsapp.pk),
        "to": DEMO_RECIPIENT,
        "type": "template",
        "template": {"name": "hello_world", "language": "en_US"},
    }
    base = gateway_url.rstrip("/")
    return [
        f"curl -s -X POST {base}/api/v1/messages/ \\",
        f'  -H "Authorization: Bearer {setup.api_key}" -H "Content-Type: application/json" \\',
        f"  -H \"Idempotency-Key: demo-$(date +%s)\" -d '{json.dumps(body)}'",
        "",
        "  Then watch its status move queued → accepted → sent → delivered → read (the simulator answers):",
        f'curl -s {base}/api/v1/messages/<id from above>/ -H "Authorization: Bearer {setup.api_key}"',
        "",
        "  Each status also arrives as a signed event at the simulator's receiver, which prints",
        "  `event message.status evt_… verified`; or pull the same events from the feed:",
        f'curl -s "{base}/api/v1/events/?after=0" -H "Authorization: Bearer {setup.api_key}"',
    ]
