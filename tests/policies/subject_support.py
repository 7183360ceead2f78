"""Helpers for the legal hold, subject export and erasure tests: a tenant's customers with messages stamped as a
policy would stamp them, stored media (sealed exactly as the media download seals it), and clients."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from pytest_django.fixtures import Settings

from accounts.models import Tenant, TotpDevice, User
from encryption.fields import EncryptedField, Sealed
from messaging.inbound.media_fetch import Fetched, _store
from messaging.inbound.media_storage import media_storage
from messaging.models import Channel, Contact, Conversation, MediaAttachment, Message, content_day_bucket
from tests.conftest import verify_session

_serial = itertools.count(1)
CONTENT_DAYS = 30
PHOTO = b"\xff\xd8\xff\xe0" + b"PHOTO-BYTES:" * 64


@dataclass
class Customer:
    tenant: Tenant
    channel: Channel
    contact: Contact
    conversation: Conversation


def customer_create(channel: Channel, *, phone: str | None = None, name: str = "Ada") -> Customer:
    contact = Contact.objects.create(
        tenant=channel.tenant,
        platform="whatsapp",
        external_id=phone or f"1650777{next(_serial):04d}",
        profile={"name": name},
    )
    conversation = Conversation.objects.create(tenant=channel.tenant, channel=channel, contact=contact)
    return Customer(channel.tenant, channel, contact, conversation)


def message_create(
    customer: Customer,
    *,
    body: str,
    received_at: datetime,
    content_days: float = CONTENT_DAYS,
    direction: str = "inbound",
    status: str = "received",
) -> Message:
    """A message received at ``received_at``, stamped as a ``content_days`` policy stamps it (its content key is
    the day bucket ``received + content_days``)."""
    message = Message(
        tenant=customer.tenant,
        channel=customer.channel,
        conversation=customer.conversation,
        contact=customer.contact,
        direction=direction,
        message_type="text",
        status=status,
        received_at=received_at,
        provider_timestamp=received_at,
        provider_message_id=f"wamid.subject-{next(_serial)}",
        content={"type": "text", "text": {"body": body}},
        content_expires_at=received_at + timedelta(days=content_days),
        content_key_day=(received_at + timedelta(days=content_days)).date(),
        metadata_expires_at=received_at + timedelta(days=content_days * 3),
    )
    message.save()
    return message


def attachment_store(message: Message, data: bytes = PHOTO, *, mime_type: str = "image/jpeg") -> MediaAttachment:
    """A stored attachment: the row, then the file sealed and written by the media download's own code."""
    attachment = MediaAttachment.objects.create(
        tenant_id=message.tenant_id,
        message=message,
        position=MediaAttachment.objects.filter(message=message).count(),
        received_at=message.received_at,
        kind="image",
        mime_type=mime_type,
        source_reference=f"media-{next(_serial)}",
        expected_sha256=None,
        expires_at=message.content_expires_at,
        content_key_day=message.content_key_day,
    )
    attachment = MediaAttachment.objects.select_related("message").get(pk=attachment.pk)
    assert _store(attachment, Fetched(data, mime_type)) == "stored"
    stored: MediaAttachment = MediaAttachment.objects.select_related("message").get(pk=attachment.pk)
    return stored


def day_bucket(message: Message) -> str:
    return content_day_bucket(Message(received_at=message.received_at, content_key_day=message.content_key_day))


def past(days: float) -> datetime:
    return timezone.now() - timedelta(days=days)


def today() -> date:
    return timezone.now().astimezone(UTC).date()


def key_id_of_column(instance: Message | MediaAttachment, name: str) -> int:
    """The key id a stored value names (read from the database, as stored)."""
    field = instance._meta.get_field(name)
    assert isinstance(field, EncryptedField)
    stored = type(instance)._base_manager.filter(pk=instance.pk).values_list(field.attname, flat=True).get()
    return int.from_bytes(bytes(Sealed(stored))[1:5], "big")


def key_id_of_file(name: str) -> int:
    with media_storage().open(name, "rb") as stored:
        return int.from_bytes(stored.read()[1:5], "big")


@pytest.fixture
def media_root(settings: Settings, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    return root


@pytest.fixture
def instant_key_destruction(settings: Settings) -> None:
    """No process caches keys: a scheduled key may be destroyed at once (production waits a minute)."""
    settings.ENCRYPTION_KEY_CACHE_SECONDS = 0


def staff_client(user: User, device: TotpDevice, *, stepped_up: bool) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, device, verified_seconds_ago=0 if stepped_up else 3600)
    return client


class BrokerStandIn:
    """Stands in for every publish of the Celery app (``send_task``, which ``apply_async`` ends in too): down
    (each publish fails as kombu fails when the broker is out of reach) or up (recorded, not sent)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.is_down = False
        self.published: list[tuple[str, list[object]]] = []
        monkeypatch.setattr(Celery, "send_task", self._send_task)

    def _send_task(self, name: str, args: list[object] | None = None, *_: object, **__: object) -> None:
        if self.is_down:
            raise KombuOperationalError("[Errno 111] Connection refused")
        self.published.append((name, list(args or [])))
