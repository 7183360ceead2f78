"""The transparency report in the admin: a link on the tenant page, a period picker, the report as HTML or PDF,
for operators and the tenant's owners, admins and auditors only."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.mfa import totp_device_provision
from accounts.models import Membership, Role, Tenant, User
from audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD, verify_session
from tests.console.seed import NOVEMBER, Seeded

pytestmark = pytest.mark.django_db(transaction=False)


def _url(tenant: Tenant) -> str:
    return f"/admin/reports/tenants/{tenant.pk}/transparency/"


def _staff_client(tenant: Tenant, role: Role, email: str) -> tuple[Client, User]:
    user = User.objects.create_user(email, PASSWORD, is_staff=True)
    Membership.objects.create(tenant=tenant, user=user, role=role)
    client = Client()
    client.force_login(user)
    verify_session(client, totp_device_provision(user=user))
    return client, user


def test_tenant_page_links_to_the_report(tenant_a: Tenant, operator_client: Client) -> None:
    page = operator_client.get(f"/admin/accounts/tenant/{tenant_a.pk}/change/")
    assert page.status_code == 200
    assert f'href="{_url(tenant_a)}"' in page.content.decode()


def test_picker_then_html_report(seeded_a: Seeded, operator_client: Client) -> None:
    picker = operator_client.get(_url(seeded_a.tenant))
    assert picker.status_code == 200
    assert 'name="period"' in picker.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.REPORT_ISSUED).exists()
    report = operator_client.get(_url(seeded_a.tenant), {"period": NOVEMBER, "format": "html"})
    assert report.status_code == 200
    event = AuditEvent.objects.get(action=AuditAction.REPORT_ISSUED)
    assert event.target_id in report.content.decode()
    assert event.actor_label == "operator@gateway.example"


def test_auditor_gets_the_pdf(seeded_a: Seeded) -> None:
    client, _ = _staff_client(seeded_a.tenant, Role.AUDITOR, "auditor@a.example")
    response = client.get(_url(seeded_a.tenant), {"start": "2026-11-01", "end": "2026-11-30", "format": "pdf"})
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert "attachment" in response["Content-Disposition"]


def test_a_bad_period_shows_the_form_again(tenant_a: Tenant, operator_client: Client) -> None:
    response = operator_client.get(_url(tenant_a), {"period": "2026-13", "format": "html"})
    assert response.status_code == 400
    assert "no month 13" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.REPORT_ISSUED).exists()


def test_agents_and_other_tenants_get_404(tenant_a: Tenant, tenant_b: Tenant) -> None:
    agent, _ = _staff_client(tenant_a, Role.AGENT, "agent@a.example")
    assert agent.get(_url(tenant_a), {"period": NOVEMBER, "format": "html"}).status_code == 404
    owner_b, _ = _staff_client(tenant_b, Role.OWNER, "owner2@b.example")
    assert owner_b.get(_url(tenant_a), {"period": NOVEMBER, "format": "html"}).status_code == 404
    assert owner_b.get(_url(tenant_b)).status_code == 200
    assert not AuditEvent.objects.filter(action=AuditAction.REPORT_ISSUED).exists()


def test_without_otp_the_admin_sends_to_login(tenant_a: Tenant, owner_a: User) -> None:
    client = Client()
    client.force_login(owner_a)
    response = client.get(_url(tenant_a))
    assert response.status_code == 302
    assert "/account/login/" in response["Location"] or "/admin/login/" in response["Location"]
