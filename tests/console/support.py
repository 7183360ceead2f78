"""Two tenants with a channel each and a quick way to store many messages for the dashboard tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.test import Client

from accounts.actors import CLI_ACTOR
from accounts.mfa import totp_device_provision
from accounts.models import Tenant, User
from core.db import rows_per_insert
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Contact, Conversation, Message
from tests.conftest import verify_session

SECRET = "s" * 32
_serial = itertools.count()


@dataclass
class World:
    tenant: Tenant
    channel: Channel
    contact: Contact
    conversation: Conversation


def world_create(tenant: Tenant, display_name: str) -> World:
    serial = next(_serial)
    app = meta_app_register(tenant=tenant, name=f"App {serial}", app_secret=SECRET, actor=CLI_ACTOR).meta_app
    channel = channel_add(
        tenant=tenant,
        meta_app=app,
        platform="whatsapp",
        provider_id=f"10654035224{serial:04d}",
        access_token="t" * 40,
        actor=CLI_ACTOR,
        display_name=display_name,
    )
    contact = Contact.objects.create(tenant=tenant, platform="whatsapp", external_id=f"1650555{serial:04d}")
    conversation = Conversation.objects.create(tenant=tenant, channel=channel, contact=contact)
    return World(tenant, channel, contact, conversation)


def messages_store(
    world: World, *, at: datetime, count: int, direction: str = "inbound", status: str = "received",
    failure_code: int | None = None, spread: timedelta = timedelta(0),
) -> None:  # fmt: skip
    """``count`` messages without content at ``at`` (spread evenly over ``spread`` before it)."""
    step = spread / count if count else timedelta(0)
    Message.objects.bulk_create(
        (
            Message(
                tenant=world.tenant,
                channel=world.channel,
                conversation=world.conversation,
                contact=world.contact,
                direction=direction,
                message_type="text",
                status=status,
                failure_code=failure_code,
                received_at=at - step * index,
                provider_timestamp=at - step * index,
            )
            for index in range(count)
        ),
        batch_size=rows_per_insert(Message),
    )


def verified_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, totp_device_provision(user=user))
    return client
