"""Placing a legal hold picks the contact (searched by phone number, PSID or id) and the channel instead of typing
ids, and a picker never offers another tenant's rows."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.mfa import totp_device_provision
from accounts.models import Membership, Role, Tenant, User
from messaging.models import Channel
from policies.models import LegalHold
from tests.conftest import verify_session
from tests.policies.subject_support import customer_create

pytestmark = pytest.mark.django_db
ADD = "/admin/policies/legalhold/add/"
AUTOCOMPLETE = "/admin/autocomplete/"


def verified_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, totp_device_provision(user=user))
    return client


def _contact_search(client: Client, term: str) -> list[str]:
    query = {"app_label": "policies", "model_name": "legalhold", "field_name": "contact", "term": term}
    response = client.get(AUTOCOMPLETE, query)
    assert response.status_code == 200
    return [result["id"] for result in response.json()["results"]]


def test_the_form_offers_pickers_and_no_id_boxes(operator_client: Client, channel_a: Channel) -> None:
    page = operator_client.get(ADD).content.decode()

    assert re.search(r'class="[^"]*\badmin-autocomplete\b', page) and 'data-model-name="legalhold"' in page
    assert "Line 106540352242922 (Tenant A)" in page
    assert "Contact id" not in page and "Conversation id" not in page


def test_the_contact_picker_finds_a_contact_by_phone_number(
    operator_client: Client, channel_a: Channel, channel_b: Channel
) -> None:
    ada = customer_create(channel_a, phone="16505551234")
    customer_create(channel_b, phone="16505559999")

    assert _contact_search(operator_client, "+1 650-555-1234") == [str(ada.contact.pk)]


def test_the_contact_picker_never_offers_another_tenants_contacts(
    owner_a: User, channel_a: Channel, channel_b: Channel
) -> None:
    own = customer_create(channel_a, phone="16505551234")
    other = customer_create(channel_b, phone="16505551234")
    client = verified_client(owner_a)

    assert _contact_search(client, "16505551234") == [str(own.contact.pk)]
    assert _contact_search(client, str(other.contact.pk)) == []


def test_the_picker_offers_only_tenants_where_the_user_may_place_holds(
    tenant_a: Tenant, tenant_b: Tenant, channel_a: Channel, channel_b: Channel
) -> None:
    """An admin of A who is an agent of B views B's contacts elsewhere, but cannot hold them: none offered here."""
    user = User.objects.create_user("mixed@example.com", "correct horse battery staple", is_staff=True)
    Membership.objects.create(tenant=tenant_a, user=user, role=Role.ADMIN)
    Membership.objects.create(tenant=tenant_b, user=user, role=Role.AGENT)
    other = customer_create(channel_b)

    assert _contact_search(verified_client(user), str(other.contact.pk)) == []


def test_a_conversation_hold_is_the_picked_contacts_conversation_on_the_picked_channel(
    operator_client: Client, channel_a: Channel, tenant_a: Tenant
) -> None:
    customer = customer_create(channel_a)
    form = {
        "tenant": str(tenant_a.pk),
        "scope": "conversation",
        "contact": str(customer.contact.pk),
        "channel": str(channel_a.pk),
        "case_reference": "CASE-12",
        "reason": "Dispute",
    }

    response = operator_client.post(ADD, form)

    assert response.status_code == 302
    hold = LegalHold.objects.get()
    assert (hold.conversation_id, hold.contact_id) == (customer.conversation.pk, None)


def test_a_conversation_hold_on_a_channel_the_contact_never_used_is_refused(
    operator_client: Client, channel_a: Channel, tenant_a: Tenant
) -> None:
    customer = customer_create(channel_a)
    stranger = customer_create(channel_a)
    stranger.conversation.delete()
    form = {
        "tenant": str(tenant_a.pk),
        "scope": "conversation",
        "contact": str(stranger.contact.pk),
        "channel": str(channel_a.pk),
        "case_reference": "CASE-13",
        "reason": "Dispute",
    }

    response = operator_client.post(ADD, form)

    assert response.status_code == 200
    assert "This contact has no conversation on this channel" in response.content.decode()
    assert not LegalHold.objects.exists()
    assert customer.conversation.pk
