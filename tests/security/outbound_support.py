"""A tenant with WhatsApp channels, contacts who wrote, an API key and the send API, for the volume detector."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_issue
from accounts.models import ApiKey, ApiScope, Tenant
from audit.alerts.detectors.outbound import CHANNEL_SENDS_METRIC, TENANT_SENDS_METRIC
from audit.alerts.history import hour_start
from audit.alerts.models import HourlyCount, ThresholdOverride
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Contact, Conversation

URL = "/api/v1/messages/"


@dataclass
class Sender:
    tenant: Tenant
    channels: list[Channel]
    contacts: list[Contact]
    api_key: ApiKey
    client: APIClient

    def text(self, channel: Channel, contact: Contact) -> Any:
        body = {"channel": str(channel.pk), "contact_id": str(contact.pk), "type": "text", "text": {"body": "Hi"}}
        return self.client.post(URL, body, format="json")

    def template_to(self, channel: Channel, number: str) -> Any:
        body = {"channel": str(channel.pk), "to": "+" + number, "type": "template"}
        return self.client.post(URL, body | {"template": {"name": "offer", "language": "en"}}, format="json")


def sender_make(tenant: Tenant, *, channels: int, contacts: int) -> Sender:
    app = meta_app_register(tenant=tenant, name="app", app_secret="s" * 32, actor=CLI_ACTOR).meta_app
    made = [
        channel_add(
            tenant=tenant,
            meta_app=app,
            platform="whatsapp",
            provider_id=str(uuid.uuid4().int)[:15],
            access_token="EAAG" + "t" * 40,
            actor=CLI_ACTOR,
        )
        for number in range(channels)
    ]
    wrote = timezone.now() - timedelta(hours=1)
    people = [
        Contact.objects.create(tenant=tenant, platform="whatsapp", external_id=f"1650555{number:04d}")
        for number in range(contacts)
    ]
    for channel in made:
        Conversation.objects.bulk_create(
            Conversation(tenant=tenant, channel=channel, contact=person, last_inbound_at=wrote) for person in people
        )
    issued = api_key_issue(tenant=tenant, name="sender", scopes=[ApiScope.MESSAGES_SEND])
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return Sender(tenant, made, people, issued.api_key, client)


def baseline_set(*, tenant: Tenant, subject: str, channel: bool, per_hour: int, days: int = 7) -> None:
    """``per_hour`` sends in every hour of the past ``days`` days (the current hour excluded)."""
    current = hour_start(timezone.now())
    metric = CHANNEL_SENDS_METRIC if channel else TENANT_SENDS_METRIC
    HourlyCount.objects.bulk_create(
        HourlyCount(
            metric=metric, subject=subject, tenant_id=tenant.pk, hour=current - timedelta(hours=back), count=per_hour
        )
        for back in range(1, days * 24 + 1)
    )


def thresholds_set(tenant: Tenant, **values: int) -> None:
    for name, value in values.items():
        ThresholdOverride.objects.create(tenant_id=tenant.pk, name=name, value=value)
