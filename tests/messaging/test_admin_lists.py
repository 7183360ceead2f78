"""The messaging lists name their rows: channel and tenant names, the contact's name and a masked number, and a
content preview (type and length, never the words) only for roles that may reveal conversations."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.actors import CLI_ACTOR
from accounts.models import Membership, Role, Tenant, User
from encryption import keyring
from messaging.admin.display import masked_handle
from messaging.models import Channel, Contact, Conversation, Message
from policies.subjects.erasure import contact_erase
from policies.subjects.export import subject_export_request
from policies.subjects.holds import legal_hold_place
from tests.admin_pages import changelist_cells
from tests.messaging.admin_support import UK_MASKED, UK_NUMBER, inbound, staff_client
from tests.policies.conftest import channel_create

pytestmark = pytest.mark.django_db

PREVIEW = "text, 5 characters"


@pytest.fixture
def channel(tenant_a: Tenant) -> Channel:
    return channel_create(tenant_a, "106540352242922")


@pytest.fixture
def received(channel: Channel) -> Message:
    inbound(channel, "wamid.lists.1", at=1750000000)
    return Message.objects.get()


@pytest.mark.parametrize(
    ("external_id", "platform", "expected"),
    [
        (UK_NUMBER, "whatsapp", UK_MASKED),
        ("16505551234", "whatsapp", "+1 •••• ••34"),
        ("353861234567", "whatsapp", "+353 •••• ••67"),
        ("8613800138000", "whatsapp", "+86 •••• ••00"),
        ("6954321098765432", "messenger", "•••• ••32"),
        ("US.13491208655302741918", "whatsapp", "•••• ••18"),
    ],
)
def test_a_handle_is_masked_to_its_country_code_and_last_two_characters(
    external_id: str, platform: str, expected: str
) -> None:
    assert masked_handle(external_id, platform=platform) == expected


def test_the_message_list_names_the_contact_channel_and_tenant(operator_client: Client, received: Message) -> None:
    page = operator_client.get(reverse("admin:messaging_message_changelist")).content.decode()

    assert f"Ada Lovelace · {UK_MASKED}" in page
    assert "WhatsApp Line 106540352242922" in page
    assert "Tenant A" in page
    assert PREVIEW in page
    assert UK_NUMBER not in page and "hello" not in page and "wamid." not in page


def test_the_contact_and_conversation_lists_name_the_contact(operator_client: Client, received: Message) -> None:
    contact = Contact.objects.get()
    contacts = operator_client.get(reverse("admin:messaging_contact_changelist")).content.decode()
    conversations = operator_client.get(
        reverse("admin:messaging_conversation_changelist") + f"?contact__id__exact={contact.pk}"
    ).content.decode()

    for page in (contacts, conversations):
        assert f"Ada Lovelace · {UK_MASKED}" in page
        assert UK_NUMBER not in page
    assert reverse("admin:messaging_conversation_thread", args=[Conversation.objects.get().pk]) in conversations


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.AGENT])
def test_roles_that_may_reveal_see_the_preview(tenant_a: Tenant, received: Message, role: Role) -> None:
    page = staff_client(tenant_a, role).get(reverse("admin:messaging_message_changelist")).content.decode()

    assert PREVIEW in page
    assert "hello" not in page


def test_an_auditor_sees_no_preview(tenant_a: Tenant, received: Message) -> None:
    page = staff_client(tenant_a, Role.AUDITOR).get(reverse("admin:messaging_message_changelist")).content.decode()

    assert f"Ada Lovelace · {UK_MASKED}" in page  # the row is named
    assert "•••</td>" in page
    assert "characters" not in page and "hello" not in page


def test_a_preview_is_for_the_tenant_where_the_role_allows_it(
    tenant_a: Tenant, tenant_b: Tenant, received: Message
) -> None:
    """An agent of A and auditor of B sees A's previews only; B's rows stay masked."""
    channel_b = channel_create(tenant_b, "2002002002")
    inbound(channel_b, "wamid.lists.b", at=1750000100, name="Grace Hopper", body="bonjour")
    client = staff_client(tenant_a, Role.AGENT)
    agent = User.objects.get(email=f"{Role.AGENT}@{tenant_a.slug}.example")
    Membership.objects.create(tenant=tenant_b, user=agent, role=Role.AUDITOR)

    page = client.get(reverse("admin:messaging_message_changelist")).content.decode()

    assert page.count(PREVIEW) == 1  # A's "hello"; B's "bonjour" would be 7 characters
    assert "7 characters" not in page
    assert "Grace Hopper" in page


@pytest.mark.django_db(transaction=True)  # keys are cached once committed: as in production
def test_a_list_page_costs_the_same_queries_whatever_its_length(
    operator_client: Client, channel: Channel, received: Message
) -> None:
    url = reverse("admin:messaging_message_changelist")
    keyring.cache_clear()
    with CaptureQueriesContext(connection) as one_row:
        assert operator_client.get(url).status_code == 200
    for number in range(4):
        inbound(channel, f"wamid.lists.more.{number}", at=1750000010 + number, sender=f"4477009001{number}0")
    keyring.cache_clear()
    with CaptureQueriesContext(connection) as five_rows:
        page = operator_client.get(url).content.decode()

    assert page.count(PREVIEW) == 5
    assert len(five_rows.captured_queries) == len(one_row.captured_queries)


def test_holds_exports_and_the_audit_log_name_the_contact_and_the_tenant(
    operator_client: Client, tenant_a: Tenant, channel: Channel, received: Message
) -> None:
    inbound(channel, "wamid.lists.gone", at=1750000050, sender="16505550101", name="Gone Soon")
    kept = Contact.objects.get(pk=received.contact_id)
    gone = Contact.objects.exclude(pk=kept.pk).get()
    legal_hold_place(
        tenant=tenant_a,
        conversation=Conversation.objects.get(contact=kept),
        case_reference="CASE-7",
        reason="litigation",
        actor=CLI_ACTOR,
    )
    subject_export_request(tenant=tenant_a, contact=gone, actor=CLI_ACTOR, enqueue=False)
    contact_erase(tenant=tenant_a, contact=gone, actor=CLI_ACTOR)

    holds = operator_client.get(reverse("admin:policies_legalhold_changelist")).content.decode()
    exports = operator_client.get(reverse("admin:policies_subjectexport_changelist")).content.decode()
    audit = operator_client.get(reverse("admin:audit_auditevent_changelist")).content.decode()

    assert f"Ada Lovelace · {UK_MASKED}" in holds
    assert "— (no longer stored)" in exports and "Gone Soon" not in exports
    tenants = changelist_cells(audit, "tenant_name")
    assert "Tenant A" in tenants and str(tenant_a.pk) not in " ".join(tenants)


def test_a_contact_and_a_conversation_page_are_titled_by_name(operator_client: Client, received: Message) -> None:
    contact = Contact.objects.get()
    conversation = Conversation.objects.get()

    contact_page = operator_client.get(reverse("admin:messaging_contact_change", args=[contact.pk])).content.decode()
    conversation_page = operator_client.get(
        reverse("admin:messaging_conversation_change", args=[conversation.pk])
    ).content.decode()

    assert f">Ada Lovelace · {UK_MASKED}</h2>" in contact_page
    assert f"?contact__id__exact={contact.pk}" in contact_page
    assert f">Ada Lovelace · {UK_MASKED} on WhatsApp Line 106540352242922</h2>" in conversation_page
    assert UK_NUMBER not in contact_page + conversation_page
