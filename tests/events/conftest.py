"""Tenants with a WhatsApp channel each and an endpoint factory, for the event stream's tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Tenant
from events.models import Endpoint, PayloadMode
from messaging.business_events import EventType
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Contact, Conversation, Direction, Message, MessageStatus, Platform

TEST_ACTOR = Actor(label="test")
EndpointFactory = Callable[..., Endpoint]


APP_SECRET = "s" * 32


def channel_for(tenant: Tenant, provider_id: str, *, platform: str = Platform.WHATSAPP) -> Channel:
    app = meta_app_register(tenant=tenant, name=f"app {provider_id}", app_secret=APP_SECRET, actor=TEST_ACTOR).meta_app
    return channel_add(
        tenant=tenant,
        meta_app=app,
        platform=platform,
        provider_id=provider_id,
        access_token="t" * 40,
        actor=TEST_ACTOR,
    )


def message_make(channel: Channel, *, wa_id: str = "15550001111", body: str = "hello", **fields: object) -> Message:
    """An inbound text message from ``wa_id`` (a new contact) on ``channel``, in a new conversation."""
    contact = Contact.objects.create(tenant=channel.tenant, platform=channel.platform, external_id=wa_id)
    conversation = Conversation.objects.create(tenant=channel.tenant, channel=channel, contact=contact)
    now = timezone.now()
    message = Message(
        tenant=channel.tenant,
        channel=channel,
        conversation=conversation,
        contact=contact,
        direction=Direction.INBOUND,
        message_type="text",
        status=MessageStatus.RECEIVED,
        received_at=now,
        provider_timestamp=now,
        provider_message_id=f"wamid.{now.timestamp()}",
        content={"body": body},
        **fields,
    )
    message.save()
    return message


@pytest.fixture
def channel_a(tenant_a: Tenant) -> Channel:
    return channel_for(tenant_a, "1001")


@pytest.fixture
def channel_b(tenant_b: Tenant) -> Channel:
    return channel_for(tenant_b, "2002")


@pytest.fixture
def endpoint_make() -> EndpointFactory:
    def make(tenant: Tenant, *, types: list[str] | None = None, **fields: object) -> Endpoint:
        endpoint = Endpoint(
            tenant=tenant,
            url=str(fields.pop("url", "http://127.0.0.1:9/hook")),
            event_types=types if types is not None else [EventType.MESSAGE_RECEIVED.value],
            payload_mode=str(fields.pop("payload_mode", PayloadMode.THIN)),
            secret=str(fields.pop("secret", "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
            **fields,
        )
        endpoint.save()
        return endpoint

    return make


# The simulator (Meta's stand-in, a real subprocess), for the dispatcher's events.
from tests.simulator.conftest import simulator, simulator_url  # noqa: E402

__all__ = ["simulator", "simulator_url"]
