"""The tenant, Meta app and channels a run registers, with the gateway's own service functions."""

from __future__ import annotations

import copy
import json
import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from _lib.environment import ROOT

if TYPE_CHECKING:
    from accounts.actors import Actor
    from accounts.models import Tenant
    from messaging.models import MetaApp

FIXTURES = ROOT / "tests" / "fixtures" / "meta"
PHONE_NUMBER_ID = "106540352242922"  # whatsapp_text.json's phone_number_id: the channel the bench registers
APP_SECRET = "bench-app-secret-0123456789"
SENDER_BASE = 16505550000  # signed_requests' customers: SENDER_BASE + index


@dataclass
class Registered:
    app_key: str
    meta_app_id: uuid.UUID
    channel_provider_id: str


def tenant_app_create(name: str, slug: str, app_secret: str) -> tuple[Tenant, MetaApp, Actor]:
    """A tenant named ``name`` and its Meta app (``<name> app``), registered by an actor labelled bench."""
    from accounts.actors import Actor
    from accounts.services import tenant_create
    from messaging.channels import meta_app_register

    actor = Actor(label="bench")
    tenant = tenant_create(name=name, slug=slug, actor=actor)
    app = meta_app_register(tenant=tenant, name=f"{name} app", app_secret=app_secret, actor=actor).meta_app
    return tenant, app, actor


def register() -> Registered:
    """A tenant, its Meta app and the WhatsApp channel ``whatsapp_text.json`` is addressed to."""
    from messaging.channels import channel_add
    from messaging.models import Platform

    tenant, app, actor = tenant_app_create("Bench", f"bench-{os.getpid()}", APP_SECRET)
    channel_add(
        tenant=tenant,
        meta_app=app,
        platform=Platform.WHATSAPP,
        provider_id=PHONE_NUMBER_ID,
        access_token="bench-access-token-0123456789",
        actor=actor,
    )
    return Registered(app.app_key, app.pk, PHONE_NUMBER_ID)


def signed_requests(count: int, senders: int = 1) -> list[tuple[bytes, dict[str, str]]]:
    """``whatsapp_text.json`` with a distinct message id each, signed as Meta signs it; with ``senders`` above 1,
    from that many customers in turn (one conversation each) instead of the fixture's one."""
    from webhooks.signature import signature_for

    template = json.loads((FIXTURES / "whatsapp_text.json").read_text())
    out = []
    for index in range(count):
        payload = copy.deepcopy(template)
        value = payload["entry"][0]["changes"][0]["value"]
        value["messages"][0]["id"] = f"wamid.bench-http-{os.getpid()}-{index}"
        if senders > 1:
            sender = str(SENDER_BASE + index % senders)
            value["messages"][0]["from"] = value["contacts"][0]["wa_id"] = sender
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature_for(APP_SECRET, body)}
        out.append((body, headers))
    return out
