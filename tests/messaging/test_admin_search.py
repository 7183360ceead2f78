"""Messages and contacts are found in the admin by exact provider id through their per-tenant blind
indexes, across every tenant; the search term never reaches the database as plaintext."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import channel_add, meta_app_register
from messaging.models import Channel, Contact, Conversation, Message

pytestmark = pytest.mark.django_db
PHONE = "16505551234"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="


def _channel(tenant: Tenant, provider_id: str) -> Channel:
    app = meta_app_register(tenant=tenant, name=tenant.slug, app_secret="s" * 32, actor=CLI_ACTOR).meta_app
    return channel_add(
        tenant=tenant,
        meta_app=app,
        platform="whatsapp",
        provider_id=provider_id,
        access_token="t" * 40,
        actor=CLI_ACTOR,
    )


def _message(channel: Channel, *, sender: str, wamid: str) -> Message:
    now: datetime = timezone.now()
    contact = Contact.objects.filter(tenant=channel.tenant, platform=channel.platform).first()
    if contact is None or contact.external_id != sender:
        contact = Contact.objects.create(tenant=channel.tenant, platform=channel.platform, external_id=sender)
    conversation = Conversation.objects.create(tenant=channel.tenant, channel=channel, contact=contact)
    message: Message = Message.objects.create(
        tenant=channel.tenant,
        channel=channel,
        conversation=conversation,
        contact=contact,
        direction="inbound",
        message_type="text",
        status="received",
        provider_message_id=wamid,
        provider_timestamp=now,
        received_at=now,
        content={"text": {"body": "hello"}},
    )
    return message


@pytest.fixture
def messages(tenant_a: Tenant, tenant_b: Tenant) -> dict[str, Message]:
    """The same wamid and phone number in two tenants (each under its own index key), plus another message."""
    channel_a, channel_b = _channel(tenant_a, "111111111"), _channel(tenant_b, "222222222")
    return {
        "a": _message(channel_a, sender=PHONE, wamid=WAMID),
        "b": _message(channel_b, sender=PHONE, wamid=WAMID),
        "other": _message(channel_a, sender="4915112345678", wamid="wamid.other"),
    }


def _listed(client: Client, model: str, term: str) -> set[str]:
    response = client.get(reverse(f"admin:messaging_{model}_changelist"), {"q": term})
    assert response.status_code == 200
    return {str(row.pk) for row in response.context["cl"].result_list}


def test_a_message_is_found_by_its_exact_provider_id_in_every_tenant(
    operator_client: Client, messages: dict[str, Message]
) -> None:
    assert messages["a"].provider_message_index != messages["b"].provider_message_index  # per-tenant keys

    assert _listed(operator_client, "message", WAMID) == {str(messages["a"].pk), str(messages["b"].pk)}
    assert _listed(operator_client, "message", f"  {WAMID} ") == {str(messages["a"].pk), str(messages["b"].pk)}
    assert _listed(operator_client, "message", WAMID[:-3]) == set()  # exact only, never a prefix
    assert _listed(operator_client, "message", str(messages["other"].pk)) == {str(messages["other"].pk)}
    assert len(_listed(operator_client, "message", "")) == 3


def test_a_contact_is_found_by_its_exact_external_id(operator_client: Client, messages: dict[str, Message]) -> None:
    both = {str(messages["a"].contact_id), str(messages["b"].contact_id)}

    assert _listed(operator_client, "contact", PHONE) == both
    assert _listed(operator_client, "contact", "+1 (650) 555-1234") == both  # typed as a phone number
    assert _listed(operator_client, "contact", "1650555123") == set()
    assert Contact.objects.count() == 3


def test_the_search_term_never_reaches_the_database(operator_client: Client, messages: dict[str, Message]) -> None:
    with CaptureQueriesContext(connection) as queries:
        _listed(operator_client, "message", WAMID)
        _listed(operator_client, "contact", PHONE)

    assert queries.captured_queries
    assert not any(WAMID in query["sql"] or PHONE in query["sql"] for query in queries.captured_queries)
    assert not any("LIKE" in query["sql"].upper() for query in queries.captured_queries)
