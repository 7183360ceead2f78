"""A conversation read as a thread in the admin: messages in the order they happened, with their status history and
attachments, content masked (a preview and a reveal link for roles that may reveal), another tenant's a 404."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role, Tenant
from audit.models import AuditAction, AuditEvent
from messaging.models import (
    Channel,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    StatusEvent,
)
from tests.messaging.admin_support import UK_MASKED, inbound, staff_client
from tests.policies.conftest import channel_create

pytestmark = pytest.mark.django_db

IMAGE = {"type": "image", "image": {"id": "1234567890", "mime_type": "image/jpeg", "sha256": "c2hh"}}


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@pytest.fixture
def thread(tenant_a: Tenant) -> Conversation:
    """Received out of order: the image (t=300) first, then the text (t=100); a reply sent at t=200 in between
    that was sent and then delivered."""
    channel = channel_create(tenant_a, "106540352242922")
    inbound(channel, "wamid.thread.image", at=1750000300, message=IMAGE)
    inbound(channel, "wamid.thread.text", at=1750000100, body="hello")
    conversation = Conversation.objects.get()
    reply = Message(
        tenant=tenant_a,
        channel=channel,
        conversation=conversation,
        contact=conversation.contact,
        direction=Direction.OUTBOUND,
        message_type="text",
        status=MessageStatus.DELIVERED,
        received_at=at(1750000200),
        provider_timestamp=at(1750000200),
        content={"v": 1, "platform": "whatsapp", "type": "text", "text": {"body": "hi back", "preview_url": False}},
    )
    reply.save()
    StatusEvent.objects.create(message=reply, status=MessageStatus.DELIVERED, provider_timestamp=at(1750000205))
    StatusEvent.objects.create(message=reply, status=MessageStatus.SENT, provider_timestamp=at(1750000201))
    return conversation


def thread_url(conversation: Conversation) -> str:
    return reverse("admin:messaging_conversation_thread", args=[conversation.pk])


def rows_in_order(page: str) -> list[str]:
    return re.findall(r'data-message="([0-9a-f-]+)"', page)


def test_the_thread_lists_messages_in_the_order_they_happened(operator_client: Client, thread: Conversation) -> None:
    response = operator_client.get(thread_url(thread))
    page = response.content.decode()

    expected = [str(pk) for pk in Message.objects.order_by("provider_timestamp").values_list("pk", flat=True)]
    assert response.status_code == 200
    assert rows_in_order(page) == expected
    assert [Message.objects.get(pk=pk).message_type for pk in expected] == ["text", "text", "image"]
    assert f"Thread with Ada Lovelace · {UK_MASKED}" in page
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_thread_shows_the_status_history_and_attachments(operator_client: Client, thread: Conversation) -> None:
    page = operator_client.get(thread_url(thread)).content.decode()

    history = re.search(r'<ul class="statuses">(.*?)</ul>', page, re.S)
    assert history is not None
    assert re.findall(r"<li>(\w+) ", history.group(1)) == ["Sent", "Delivered"]
    attachments = re.findall(r'<ul class="attachments"><li>(.*?)</li>', page)
    assert attachments == ["image · image/jpeg · Pending"]


@pytest.mark.parametrize("role", [Role.OWNER, Role.AGENT])
def test_roles_that_may_reveal_see_previews_and_reveal_links(
    tenant_a: Tenant, thread: Conversation, role: Role
) -> None:
    page = staff_client(tenant_a, role).get(thread_url(thread)).content.decode()

    assert re.findall(r'<td class="content">([^<]*)', page) == ["text, 5 characters ", "text, 7 characters ", "image "]
    for message in Message.objects.all():
        assert reverse("admin:messaging_message_reveal", args=[message.pk]) in page
    assert "hello" not in page and "hi back" not in page
    assert not AuditEvent.objects.filter(action=AuditAction.CONTENT_REVEALED).exists()  # reading is not revealing


def test_an_auditor_sees_the_thread_masked_without_reveal_links(tenant_a: Tenant, thread: Conversation) -> None:
    page = staff_client(tenant_a, Role.AUDITOR).get(thread_url(thread)).content.decode()

    assert re.findall(r'<td class="content">([^<]*)', page) == ["•••", "•••", "•••"]
    assert "/reveal/" not in page and "characters" not in page


def test_another_tenants_thread_is_a_404(tenant_a: Tenant, tenant_b: Tenant, thread: Conversation) -> None:
    channel_b: Channel = channel_create(tenant_b, "2002002002")
    inbound(channel_b, "wamid.thread.b", at=1750000100, sender="16505554321")
    other = Conversation.objects.get(tenant=tenant_b)

    client = staff_client(tenant_a, Role.OWNER)

    assert client.get(thread_url(other)).status_code == 404
    assert client.get(thread_url(thread)).status_code == 200


def test_a_message_page_leads_to_its_thread(operator_client: Client, thread: Conversation) -> None:
    message = Message.objects.filter(direction=Direction.OUTBOUND).get()

    page = operator_client.get(reverse("admin:messaging_message_change", args=[message.pk])).content.decode()

    assert thread_url(thread) in page
    assert "hi back" not in page
