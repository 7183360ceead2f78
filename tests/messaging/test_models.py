"""The storage the inbound pipeline relies on: sealed identifiers, blind-index dedupe, per-contact keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from encryption.blind_index import blind_index_filter
from encryption.errors import DecryptionError
from encryption.models import DataKey, KeyState, Purpose
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Contact, Conversation, Direction, Message, MessageStatus, content_day_bucket

pytestmark = pytest.mark.django_db
WA_ID = "16505551234"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="


@pytest.fixture
def channel_a(tenant_a: Tenant) -> Channel:
    app = meta_app_register(tenant=tenant_a, name="A", app_secret="s" * 32, actor=CLI_ACTOR).meta_app
    return channel_add(
        tenant=tenant_a,
        meta_app=app,
        platform="whatsapp",
        provider_id="106540352242922",
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )


def _contact(tenant: Tenant, wa_id: str = WA_ID) -> Contact:
    return Contact.objects.create(tenant=tenant, platform="whatsapp", external_id=wa_id, profile={"name": "Jörg"})


def _message(channel: Channel, contact: Contact, wamid: str = WAMID) -> Message:
    conversation, _ = Conversation.objects.get_or_create(tenant=channel.tenant, channel=channel, contact=contact)
    now = timezone.now()
    return Message.objects.create(
        tenant=channel.tenant,
        channel=channel,
        conversation=conversation,
        contact=contact,
        direction=Direction.INBOUND,
        message_type="text",
        status=MessageStatus.RECEIVED,
        received_at=now,
        provider_timestamp=now,
        provider_message_id=wamid,
        content={"body": "Café"},
    )


def test_contacts_are_found_by_blind_index_within_their_tenant_only(tenant_a: Tenant, tenant_b: Tenant) -> None:
    mine, theirs = _contact(tenant_a), _contact(tenant_b)

    def found(tenant: Tenant) -> list[Contact]:
        query = blind_index_filter(Contact, "external_id_index", tenant_id=tenant.pk, value=WA_ID)
        return list(Contact.objects.filter(query, tenant=tenant))

    assert found(tenant_a) == [mine] and found(tenant_b) == [theirs]
    assert mine.external_id_index != theirs.external_id_index  # the same person cannot be linked across tenants
    with pytest.raises(IntegrityError), transaction.atomic():
        _contact(tenant_a)


def test_each_contact_has_its_own_subject_key_and_destroying_it_erases_only_them(tenant_a: Tenant) -> None:
    erased, kept = _contact(tenant_a, "16505550001"), _contact(tenant_a, "16505550002")
    key = DataKey.objects.get(purpose=Purpose.SUBJECT, scope=str(erased.pk))
    DataKey.objects.filter(pk=key.pk).update(state=KeyState.DESTROYED, wrapped_key=None)

    with pytest.raises(DecryptionError):
        _ = Contact.objects.get(pk=erased.pk).external_id
    assert Contact.objects.get(pk=kept.pk).external_id == "16505550002"
    assert Contact.objects.get(pk=kept.pk).profile == {"name": "Jörg"}


def test_a_provider_message_id_is_stored_once_per_channel_and_never_in_clear(channel_a: Channel) -> None:
    contact = _contact(channel_a.tenant)
    message = _message(channel_a, contact)

    with pytest.raises(IntegrityError), transaction.atomic():
        _message(channel_a, contact)
    with connection.cursor() as cursor:
        cursor.execute("SELECT provider_message_id, content FROM messaging_message")
        stored = b"".join(bytes(value) for value in cursor.fetchone())
    assert WAMID.encode() not in stored and "Café".encode() not in stored
    assert Message.objects.get(pk=message.pk).provider_message_id == WAMID


def test_content_is_sealed_under_the_day_it_must_be_gone_by(channel_a: Channel, settings) -> None:
    message = _message(channel_a, _contact(channel_a.tenant))
    expected = (message.received_at.date() + timedelta(days=settings.GATEWAY_CONTENT_MAX_DAYS + 1)).isoformat()

    assert content_day_bucket(message) == expected
    assert DataKey.objects.filter(purpose=Purpose.CONTENT, scope=expected, owner=str(channel_a.tenant_id)).count() == 1
