"""What the admin list and thread tests share: staff of a role with a verified session, and inbound messages of a
named contact delivered through the real webhook edge."""

from __future__ import annotations

from typing import Any

from django.test import Client

from accounts.mfa import totp_device_provision
from accounts.models import Role, Tenant
from messaging.models import Channel
from tests.accounts.admin_rows import staff_create
from tests.conftest import verify_session
from tests.policies.conftest import deliver, whatsapp_body

UK_NUMBER = "447700900189"
UK_MASKED = "+44 •••• ••89"


def staff_client(tenant: Tenant, role: Role) -> Client:
    user = staff_create(tenant, role)
    client = Client()
    client.force_login(user)
    verify_session(client, totp_device_provision(user=user))
    return client


def inbound(
    channel: Channel,
    wamid: str,
    *,
    at: int,
    sender: str = UK_NUMBER,
    name: str = "Ada Lovelace",
    body: str = "hello",
    message: dict[str, Any] | None = None,
) -> None:
    """One inbound WhatsApp message from ``sender`` (profile ``name``) at Unix time ``at``: a text unless
    ``message`` gives the type's own fields."""
    item = {"from": sender, "id": wamid, "timestamp": str(at), **(message or {"type": "text", "text": {"body": body}})}
    contacts = [{"profile": {"name": name}, "wa_id": sender}]
    deliver(channel, whatsapp_body(channel, {"contacts": contacts, "messages": [item]}))
