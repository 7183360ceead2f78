"""The retention policy in force, shown for every tenant whether it has a policy of its own or follows the
defaults: a column and a block in the tenant admin, and the tenants on the defaults under the policy list."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.actors import CLI_ACTOR
from accounts.mfa import totp_device_provision
from accounts.models import Membership, Role, Tenant, User
from policies.retention.services import retention_policy_update
from tests.conftest import verify_session

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("installation_limits")]
TENANTS = "/admin/accounts/tenant/"
POLICIES = "/admin/policies/retentionpolicy/"
DEFAULTS = "Defaults: content 365 d, media 90 d, metadata 730 d, raw deliveries 7 d"
OWN = "Own policy: content 30 d, media 30 d, metadata 400 d, raw deliveries 3 d"


def verified_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, totp_device_provision(user=user))
    return client


def _own_policy(tenant: Tenant) -> None:
    values = {"content_max_days": 30, "media_days": 30, "metadata_days": 400, "raw_delivery_days": 3}
    retention_policy_update(tenant=tenant, channel=None, actor=CLI_ACTOR, values=values)


def test_the_tenant_list_shows_each_tenants_policy_in_force_own_or_default(
    operator_client: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _own_policy(tenant_a)

    page = operator_client.get(TENANTS).content.decode()

    assert "retention policy in force" in page.lower()
    assert page.count(OWN) == 1 and page.count(DEFAULTS) == 1


def test_the_tenant_page_shows_every_value_in_force_by_its_label(operator_client: Client, tenant_b: Tenant) -> None:
    page = operator_client.get(f"{TENANTS}{tenant_b.pk}/change/").content.decode()

    assert "The installation&#x27;s defaults" in page or "The installation's defaults" in page
    assert "<th>Maximum content lifetime (days)</th><td>365</td>" in page
    assert "<th>Content lifetime after delivery (days)</th><td>no limit</td>" in page
    assert "<th>Purge content on delivery</th><td>no</td>" in page


def test_an_agent_who_may_not_view_policies_sees_no_policy(tenant_a: Tenant) -> None:
    agent = User.objects.create_user("agent@a.example", "correct horse battery staple", is_staff=True)
    Membership.objects.create(tenant=tenant_a, user=agent, role=Role.AGENT)
    client = verified_client(agent)

    listing = client.get(TENANTS).content.decode()
    change = client.get(f"{TENANTS}{tenant_a.pk}/change/").content.decode()

    assert "Tenant A" in listing
    assert DEFAULTS not in listing and "Maximum content lifetime" not in change


def test_the_policy_list_names_the_tenants_on_the_defaults_and_the_defaults(
    operator_client: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _own_policy(tenant_a)

    page = operator_client.get(POLICIES).content.decode()
    section = page[page.index('id="tenants-on-defaults"') :]

    assert "Tenant B" in section and "Tenant A" not in section
    assert f"/admin/policies/retentionpolicy/add/?tenant={tenant_b.pk}" in section
    assert "<th>Metadata lifetime (days)</th><td>730</td>" in section


def test_an_owner_sees_only_their_own_tenant_on_the_defaults(owner_a: User, tenant_b: Tenant) -> None:
    page = verified_client(owner_a).get(POLICIES).content.decode()
    section = page[page.index('id="tenants-on-defaults"') :]

    assert "Tenant A" in section and "Tenant B" not in section


def test_the_policy_form_labels_its_fields_and_errors_in_words(operator_client: Client, tenant_a: Tenant) -> None:
    form = {
        "tenant": tenant_a.pk,
        "content_max_days": "30",
        "metadata_days": "20",
        "raw_delivery_days": "3",
        "media_days": "30",
        "audit_days": "2555",
    }
    page = operator_client.post(f"{POLICIES}add/", form).content.decode()

    assert "Maximum content lifetime (days)" in page and "Metadata lifetime (days)" in page
    assert "at least the maximum content lifetime (30 days); got 20." in page
    assert "content_max_days (" not in page


def _tenant_list_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(TENANTS).status_code == 200
    return len(queries)


def test_the_tenant_list_reads_the_policies_in_one_query_however_many_tenants(
    operator_client: Client, tenant_a: Tenant
) -> None:
    few = _tenant_list_queries(operator_client)
    for number in range(5):
        _own_policy(Tenant.objects.create(name=f"Tenant {number}", slug=f"tenant-{number}"))

    assert _tenant_list_queries(operator_client) == few
