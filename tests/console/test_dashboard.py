"""The admin's landing page: the dashboard, scoped to the user's tenants, with a bounded number of queries."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Membership, Role, Tenant, User
from audit.alerts.models import SecurityAlert, Severity
from console.rollups import traffic_rollup_recent
from messaging.models import ChannelAlert
from messaging.outbound.dispatch.channels import channel_pause
from tests.conftest import PASSWORD
from tests.console.support import World, messages_store, verified_client, world_create
from webhooks.models import Delivery
from webhooks.services import delivery_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def worlds(tenant_a: Tenant, tenant_b: Tenant) -> tuple[World, World]:
    world_a, world_b = world_create(tenant_a, "Alpha support line"), world_create(tenant_b, "Bravo sales line")
    now = timezone.now()
    messages_store(world_a, at=now, count=6)
    messages_store(world_a, at=now, count=2, direction="outbound", status="failed", failure_code=131026)
    messages_store(world_b, at=now, count=9, direction="outbound", status="failed", failure_code=131047)
    channel_pause(channel=world_b.channel, code=190, title="Token expired")
    traffic_rollup_recent(now=now)
    return world_a, world_b


def member_of(tenant: Tenant, role: Role) -> User:
    user = User.objects.create_user(f"{role}@{tenant.slug}.example", PASSWORD, is_staff=True)
    Membership.objects.create(tenant=tenant, user=user, role=role)
    return user


def figure(page: str, name: str) -> str:
    marker = f'data-figure="{name}">'
    start = page.index(marker) + len(marker)
    return page[start : page.index("<", start)]


def test_an_operator_sees_every_tenant_on_the_landing_page(
    operator_client: Client, worlds: tuple[World, World]
) -> None:
    response = operator_client.get("/admin/")
    page = response.content.decode()

    assert response.status_code == 200
    assert "Alpha support line" in page and "Bravo sales line" in page
    assert figure(page, "inbound_24h") == "6"
    assert figure(page, "outbound_24h") == "11"
    assert figure(page, "failed_7d") == "11"
    assert figure(page, "paused_channels") == "1"
    assert figure(page, "open_alerts") == "1"
    assert "131047" in page and "131026" in page
    assert "Tenant A" in page and "Tenant B" in page  # retention in force, per tenant


def test_a_member_sees_only_their_tenants(worlds: tuple[World, World], tenant_a: Tenant) -> None:
    client = verified_client(member_of(tenant_a, Role.OWNER))

    page = client.get("/admin/").content.decode()

    assert "Alpha support line" in page
    assert "Bravo sales line" not in page
    assert "Tenant B" not in page
    assert "131047" not in page
    assert figure(page, "outbound_24h") == "2"
    assert figure(page, "paused_channels") == "0"
    assert figure(page, "open_alerts") == "0"


def test_an_agent_sees_traffic_but_not_the_oversight_sections(worlds: tuple[World, World], tenant_a: Tenant) -> None:
    client = verified_client(member_of(tenant_a, Role.AGENT))

    page = client.get("/admin/").content.decode()

    assert figure(page, "inbound_24h") == "6"
    assert 'data-figure="webhook_backlog"' not in page
    assert 'data-figure="api_keys_active"' not in page
    assert "Retention in force" not in page


def test_a_staff_member_of_no_tenant_sees_an_empty_dashboard(worlds: tuple[World, World]) -> None:
    client = verified_client(User.objects.create_user("nobody@example.com", PASSWORD, is_staff=True))

    page = client.get("/admin/").content.decode()

    assert "Alpha support line" not in page and "Bravo sales line" not in page
    assert 'data-figure="inbound_24h"' not in page


def test_the_dashboard_needs_a_verified_session(operator: User, worlds: tuple[World, World]) -> None:
    client = Client()
    client.force_login(operator)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def dashboard_queries(client: Client) -> int:
    client.get("/admin/")  # the first request warms per-process caches (content types, keys)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_messages(
    operator_client: Client, worlds: tuple[World, World]
) -> None:
    world_a = worlds[0]
    now = timezone.now()
    messages_store(world_a, at=now, count=10, spread=timedelta(hours=20))
    traffic_rollup_recent(now=now)
    few = dashboard_queries(operator_client)

    for world in worlds:
        messages_store(world, at=now, count=200, spread=timedelta(hours=40), direction="outbound", status="read")
        messages_store(world, at=now, count=200, spread=timedelta(days=6), direction="outbound", status="failed",
                       failure_code=130472)  # fmt: skip
    ChannelAlert.objects.create(tenant=world_a.tenant, channel=world_a.channel, error_code=368, error_title="Blocked")
    call_command("traffic_backfill", "--days", "8", stdout=StringIO())
    many = dashboard_queries(operator_client)

    assert many == few
    assert few <= 30


def _security_alert(tenant: Tenant | None, title: str) -> None:
    now = timezone.now()
    SecurityAlert.objects.create(
        tenant_id=tenant.pk if tenant else None, detector="webhook.signature_failures", severity=Severity.HIGH,
        dedupe_key=title, title=title, suggested_action="Check the app secret.", first_seen=now, last_seen=now,
    )  # fmt: skip


def test_the_latest_security_alerts_are_those_of_the_users_tenants(
    operator_client: Client, worlds: tuple[World, World], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _security_alert(tenant_a, "Forged webhooks on Alpha")
    _security_alert(tenant_b, "Forged webhooks on Bravo")
    _security_alert(None, "App key probing")

    member_page = verified_client(member_of(tenant_a, Role.AUDITOR)).get("/admin/").content.decode()
    operator_page = operator_client.get("/admin/").content.decode()

    assert "High: Forged webhooks on Alpha (open)" in member_page
    assert "Bravo" not in member_page and "App key probing" not in member_page
    assert all(title in operator_page for title in ("on Alpha", "on Bravo", "App key probing"))
    assert "operator" in operator_page


def test_the_acknowledgement_latency_is_that_of_the_latest_deliveries_in_scope(
    worlds: tuple[World, World], tenant_a: Tenant
) -> None:
    world_a, world_b = worlds
    for world, acks in ((world_a, [4, 6, 5, None]), (world_b, [900, 900, 900])):
        for ack in acks:
            delivery = delivery_record(
                meta_app_id=world.channel.meta_app_id, tenant_id=world.channel.tenant_id, body=b"{}", signature=""
            )
            Delivery.objects.filter(pk=delivery.pk).update(ack_ms=ack)

    page = verified_client(member_of(tenant_a, Role.ADMIN)).get("/admin/").content.decode()

    assert (figure(page, "ack_median"), figure(page, "ack_p95")) == ("5 ms", "5 ms")
