"""Message templates in the admin: listed per tenant scope, created and deleted at Meta (the simulator) after a
fresh step-up and audited, refusals shown on the form, and synced on request."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from accounts.mfa import totp_device_provision
from accounts.models import Tenant, TotpDevice, User
from audit.models import AuditAction, AuditEvent
from messaging.message_templates import templates_sync
from messaging.models import MessageTemplate
from tests.conftest import verify_session
from tests.messaging.template_support import (
    BODY,
    WABA_ID,
    Account,
    account_on_simulator,
    simulator_create,
    simulator_templates,
)
from tests.simulator.conftest import SimulatorClient

pytestmark = pytest.mark.django_db

ADD = "/admin/messaging/messagetemplate/add/"
LIST = "/admin/messaging/messagetemplate/"


@pytest.fixture
def account(simulator: SimulatorClient, tenant_a: Tenant, settings: Settings) -> Account:
    settings.GATEWAY_GRAPH_BASE_URL = simulator.base_url
    return account_on_simulator(simulator, tenant_a)


def creation(tenant: Tenant, **overrides: str) -> dict[str, object]:
    fields: dict[str, object] = {"tenant": tenant.pk, "waba_id": WABA_ID, "name": "order_update", "language": "en_US"}
    return {
        **fields,
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": json.dumps([BODY]),
        **overrides,
    }


def stale_client(user: User, device: TotpDevice) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, device, verified_seconds_ago=3600)
    return client


def test_creating_submits_to_meta_and_is_audited(operator_client: Client, account: Account) -> None:
    response = operator_client.post(ADD, creation(account.tenant))

    template = MessageTemplate.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:messaging_messagetemplate_change", args=[template.pk])
    assert (template.name, template.status, template.components) == ("order_update", "PENDING", [BODY])
    assert [t["name"] for t in simulator_templates(account.simulator)] == ["order_update"]
    event = AuditEvent.objects.get(action=AuditAction.TEMPLATE_CREATED)
    assert event.actor_label == "operator@gateway.example"


def test_a_refused_definition_is_a_form_error_and_nothing_reaches_meta(
    operator_client: Client, account: Account
) -> None:
    bad_json = operator_client.post(ADD, creation(account.tenant, components="[not json"))
    bad_name = operator_client.post(ADD, creation(account.tenant, name="Order Update"))

    assert bad_json.status_code == 200 and "Not valid JSON." in bad_json.content.decode()
    assert bad_name.status_code == 200 and "Lower-case letters" in bad_name.content.decode()
    assert simulator_templates(account.simulator) == []
    assert not MessageTemplate.objects.exists()


def test_creating_and_deleting_need_a_fresh_step_up(
    operator: User, operator_device: TotpDevice, account: Account
) -> None:
    simulator_create(account.simulator, "order_update")
    templates_sync(tenant=account.tenant, waba_id=WABA_ID)
    client = stale_client(operator, operator_device)
    template = MessageTemplate.objects.get()

    created = client.post(ADD, creation(account.tenant, name="another"))
    deleted = client.post(reverse("admin:messaging_messagetemplate_delete", args=[template.pk]), {"post": "yes"})

    for response in (created, deleted):
        assert response.status_code == 302 and response["Location"].startswith("/account/step-up/")
    assert MessageTemplate.objects.count() == 1
    assert len(simulator_templates(account.simulator)) == 1


def test_deleting_removes_it_at_meta_and_is_audited(operator_client: Client, account: Account) -> None:
    simulator_create(account.simulator, "order_update")
    templates_sync(tenant=account.tenant, waba_id=WABA_ID)
    template = MessageTemplate.objects.get()

    response = operator_client.post(
        reverse("admin:messaging_messagetemplate_delete", args=[template.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not MessageTemplate.objects.exists()
    assert simulator_templates(account.simulator) == []
    assert AuditEvent.objects.filter(action=AuditAction.TEMPLATE_DELETED).count() == 1


def test_the_sync_action_and_the_tenant_scope(
    operator_client: Client, account: Account, tenant_b: Tenant, owner_b: User
) -> None:
    simulator_create(account.simulator, "order_update")
    templates_sync(tenant=account.tenant, waba_id=WABA_ID)
    simulator_create(account.simulator, "goodbye")
    template = MessageTemplate.objects.get()

    response = operator_client.post(LIST, {"action": "sync_from_meta", "_selected_action": [str(template.pk)]})

    assert response.status_code == 302
    assert sorted(MessageTemplate.objects.values_list("name", flat=True)) == ["goodbye", "order_update"]
    assert AuditEvent.objects.filter(action=AuditAction.TEMPLATES_SYNCED).count() == 1
    other = Client()
    other.force_login(owner_b)
    verify_session(other, totp_device_provision(user=owner_b))
    page = other.get(LIST)
    assert page.status_code == 200
    assert "order_update" not in page.content.decode()
    assert other.get(reverse("admin:messaging_messagetemplate_change", args=[template.pk])).status_code in {302, 404}
