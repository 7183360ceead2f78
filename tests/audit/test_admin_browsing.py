"""Browsing the audit log in the admin: newest first, filters by action (its label), actor, tenant (its name) and
day, and search by the target's exact id; a tenant's staff never see another tenant in a filter."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.mfa import totp_device_provision
from accounts.models import Tenant, User
from audit.models import AuditAction, AuditEvent
from audit.services import audit_record
from tests.admin_pages import changelist_cells
from tests.conftest import verify_session

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/audit/auditevent/"


def verified_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    verify_session(client, totp_device_provision(user=user))
    return client


def _record(tenant: Tenant | None, action: str, target_id: str, actor: str = "ana@a.example") -> AuditEvent:
    tenant_id = tenant.pk if tenant else None
    return audit_record(action=action, tenant_id=tenant_id, actor_label=actor, target_type="t", target_id=target_id)


def _listed_targets(page: str, targets: list[str]) -> list[str]:
    """The targets that appear on the page, in the order they appear."""
    return sorted((target for target in targets if f"t {target}" in page), key=lambda target: page.index(f"t {target}"))


@pytest.fixture
def events(tenant_a: Tenant, tenant_b: Tenant) -> list[AuditEvent]:
    return [
        _record(tenant_a, AuditAction.API_KEY_ISSUED, "first"),
        _record(tenant_b, AuditAction.LOGIN_FAILED, "second", actor="bob@b.example"),
        _record(None, AuditAction.KEY_ROTATED, "third", actor="cli"),
        _record(tenant_a, AuditAction.LEGAL_HOLD_PLACED, "fourth", actor="eve@a.example"),
    ]


@pytest.mark.usefixtures("events")
def test_the_log_lists_the_newest_event_first_with_action_labels_and_tenant_names(operator_client: Client) -> None:
    page = operator_client.get(CHANGELIST).content.decode()

    assert _listed_targets(page, ["first", "second", "third", "fourth"]) == ["fourth", "third", "second", "first"]
    assert "Legal hold placed" in changelist_cells(page, "action_name") and ">legal_hold.placed<" not in page
    assert "Tenant A" in page and "Tenant B" in page and "No tenant (operator)" in page


@pytest.mark.usefixtures("events")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": AuditAction.LOGIN_FAILED}, ["second"]),
        ({"actor": "eve@a.example"}, ["fourth"]),
        ({"tenant": "operator"}, ["third"]),
        ({"q": "first"}, ["first"]),
        ({"q": "firs"}, []),  # a target id matches exactly
    ],
)
def test_each_filter_and_the_search_narrow_the_log(
    operator_client: Client, query: dict[str, str], expected: list[str]
) -> None:
    page = operator_client.get(CHANGELIST, query).content.decode()

    assert _listed_targets(page, ["first", "second", "third", "fourth"]) == expected


def test_the_tenant_filter_names_tenants_and_the_day_hierarchy_narrows_by_date(
    operator_client: Client, events: list[AuditEvent], tenant_b: Tenant
) -> None:
    day = events[0].occurred_at
    by_tenant = operator_client.get(CHANGELIST, {"tenant": str(tenant_b.pk)}).content.decode()
    by_day = operator_client.get(
        CHANGELIST, {"occurred_at__year": day.year, "occurred_at__month": day.month, "occurred_at__day": day.day}
    )
    other_year = operator_client.get(CHANGELIST, {"occurred_at__year": day.year - 1})

    assert re.search(rf'href="\?tenant={tenant_b.pk}"[^>]*>\s*Tenant B\s*</a>', by_tenant)
    assert _listed_targets(by_tenant, ["first", "second", "third", "fourth"]) == ["second"]
    assert by_day.status_code == 200
    assert len(_listed_targets(by_day.content.decode(), ["first", "second", "third", "fourth"])) == 4
    assert _listed_targets(other_year.content.decode(), ["first", "second", "third", "fourth"]) == []


@pytest.mark.usefixtures("events")
def test_a_tenants_owner_sees_only_their_tenant_in_the_filters_and_rows(owner_a: User, tenant_b: Tenant) -> None:
    client = verified_client(owner_a)

    page = client.get(CHANGELIST).content.decode()
    probing = client.get(CHANGELIST, {"tenant": str(tenant_b.pk)}).content.decode()

    assert _listed_targets(page, ["first", "second", "third", "fourth"]) == ["fourth", "first"]
    assert "Tenant B" not in page and "bob@b.example" not in page and "No tenant (operator)" not in page
    assert _listed_targets(probing, ["first", "second", "third", "fourth"]) == []
