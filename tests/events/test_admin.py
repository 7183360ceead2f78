"""Endpoints in the admin: added and changed behind a fresh step-up, the secret shown once after adding and after
rotating, the actions audited; events and the delivery log read-only. Scoping across tenants is covered with every
other admin in tests/accounts/test_admin_scope.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.mfa import totp_device_provision
from accounts.models import Tenant, User
from audit.models import AuditAction, AuditEvent
from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, Event, EventDelivery
from messaging.business_events import EventType
from messaging.models import Channel
from tests.conftest import verify_session
from tests.events.conftest import EndpointFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/events/endpoint/"
ADD = f"{CHANGELIST}add/"
SECRET_PAGE = f"{CHANGELIST}secret/"
SECRET_PATTERN = re.compile(r"whsec_[A-Za-z0-9+/=]{40,}")


def owner_client(owner: User, *, seconds_since_step_up: float = 0) -> Client:
    client = Client()
    client.force_login(owner)
    verify_session(client, totp_device_provision(user=owner), verified_seconds_ago=seconds_since_step_up)
    return client


def secrets_in(response: Any) -> list[str]:
    return SECRET_PATTERN.findall(response.content.decode())


def add_body(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    return {
        "tenant": tenant.pk,
        "url": "http://127.0.0.1:9/crm",
        "description": "CRM",
        "event_types": ["message.received", "message.status"],
        "payload_mode": "thin",
        **fields,
    }


def audited(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def test_adding_needs_a_fresh_step_up(owner_a: User, tenant_a: Tenant) -> None:
    stale = owner_client(owner_a, seconds_since_step_up=3600)

    for response in (stale.get(ADD), stale.post(ADD, add_body(tenant_a))):
        assert response.status_code == 302 and response["Location"].startswith("/account/step-up/")
    assert not Endpoint.objects.exists()


def test_adding_shows_the_secret_once_then_never(owner_a: User, tenant_a: Tenant, channel_a: Channel) -> None:
    client = owner_client(owner_a)

    posted = client.post(ADD, add_body(tenant_a, channel=channel_a.pk))

    assert (posted.status_code, posted["Location"]) == (303, SECRET_PAGE)
    endpoint = Endpoint.objects.get()
    assert (endpoint.tenant, endpoint.channel, endpoint.event_types) == (
        tenant_a,
        channel_a,
        ["message.received", "message.status"],
    )
    shown = client.get(SECRET_PAGE)
    assert secrets_in(shown) == [endpoint.secret]
    assert "no-store" in shown["Cache-Control"]
    reloaded = client.get(SECRET_PAGE)
    assert secrets_in(reloaded) == [] and "already shown" in reloaded.content.decode()
    for page in (client.get(CHANGELIST), client.get(f"{CHANGELIST}{endpoint.pk}/change/")):
        assert page.status_code == 200 and endpoint.secret not in page.content.decode()
    assert audited(AuditAction.EVENT_ENDPOINT_CREATED) == 1


def test_a_refused_value_is_a_form_error_and_adds_nothing(owner_a: User, tenant_a: Tenant) -> None:
    client = owner_client(owner_a)

    refused = [
        client.post(ADD, add_body(tenant_a, url="ftp://127.0.0.1/crm")),
        client.post(ADD, add_body(tenant_a, event_types=["ping"])),
        client.post(ADD, add_body(tenant_a, event_types=[])),
    ]

    assert [response.status_code for response in refused] == [200, 200, 200]
    assert all("errorlist" in response.content.decode() for response in refused)
    assert not Endpoint.objects.exists()
    assert audited(AuditAction.EVENT_ENDPOINT_CREATED) == 0


def test_changing_needs_a_fresh_step_up_and_is_audited(
    owner_a: User, tenant_a: Tenant, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a, is_enabled=False, disabled_reason="410 Gone", failing_since=timezone.now())
    url = f"{CHANGELIST}{endpoint.pk}/change/"
    body = {
        "url": endpoint.url,
        "description": "re-enabled",
        "event_types": ["message.received"],
        "payload_mode": "thin",
        "is_enabled": "on",
    }

    stale = owner_client(owner_a, seconds_since_step_up=3600).post(url, body)
    assert stale.status_code == 302 and stale["Location"].startswith("/account/step-up/")
    assert Endpoint.objects.get().description == ""

    changed = owner_client(owner_a).post(url, body)

    assert changed.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.description, endpoint.is_enabled, endpoint.disabled_reason, endpoint.failing_since) == (
        "re-enabled",
        True,
        "",
        None,
    )
    [audit] = AuditEvent.objects.filter(action=AuditAction.EVENT_ENDPOINT_CHANGED)
    assert audit.details["fields"] == "description is_enabled" and audit.actor_id == owner_a.pk


def test_rotating_needs_a_fresh_step_up_and_shows_the_new_secret_once(
    owner_a: User, tenant_a: Tenant, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    old = endpoint.secret
    payload = {"action": "rotate_secret", "_selected_action": [str(endpoint.pk)]}

    stale = owner_client(owner_a, seconds_since_step_up=3600).post(CHANGELIST, payload)
    assert stale.status_code == 302 and stale["Location"].startswith("/account/step-up/")
    assert Endpoint.objects.get().secret == old

    client = owner_client(owner_a)
    rotated = client.post(CHANGELIST, payload)

    assert (rotated.status_code, rotated["Location"]) == (303, SECRET_PAGE)
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert secrets_in(client.get(SECRET_PAGE)) == [endpoint.secret]
    assert secrets_in(client.get(SECRET_PAGE)) == []
    assert audited(AuditAction.EVENT_ENDPOINT_SECRET_ROTATED) == 1


def test_the_test_resend_and_replay_actions_owe_deliveries_and_are_audited(
    owner_a: User, tenant_a: Tenant, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    now = timezone.now()
    recent = Event.objects.create(tenant=tenant_a, type=EventType.MESSAGE_RECEIVED, occurred_at=now)
    failed_event = Event.objects.create(tenant=tenant_a, type=EventType.MESSAGE_RECEIVED, occurred_at=now)
    failed = EventDelivery.objects.create(
        tenant=tenant_a, event=failed_event, endpoint=endpoint, status=DeliveryStatus.FAILED, next_attempt_at=now
    )
    client = owner_client(owner_a)

    def act(action: str) -> None:
        client.post(CHANGELIST, {"action": action, "_selected_action": [str(endpoint.pk)]})

    act("send_test_event")
    act("resend_failed")
    act("replay_last_day")

    ping = EventDelivery.objects.get(event__type=EventType.PING)
    assert ping.endpoint_id == endpoint.pk
    assert EventDelivery.objects.get(pk=failed.pk).status == DeliveryStatus.PENDING
    assert EventDelivery.objects.filter(event=recent, endpoint=endpoint).exists()
    assert [audited(action) for action in ("event_endpoint.tested", "events.resent", "events.replayed")] == [1, 1, 1]


def test_events_and_the_delivery_log_are_read_only_pages(
    owner_a: User, tenant_a: Tenant, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    now = timezone.now()
    event = Event.objects.create(
        tenant=tenant_a, type=EventType.MESSAGE_STATUS, occurred_at=now, facts={"status": "read"}
    )
    delivery = EventDelivery.objects.create(tenant=tenant_a, event=event, endpoint=endpoint, next_attempt_at=now)
    attempt = DeliveryAttempt.objects.create(
        tenant=tenant_a, delivery=delivery, endpoint=endpoint, attempted_at=now, status_code=503, latency_ms=12
    )
    client = owner_client(owner_a)

    event_page = client.get(f"/admin/events/event/{event.pk}/change/")
    log = client.get("/admin/events/deliveryattempt/")
    attempt_page = client.get(f"/admin/events/deliveryattempt/{attempt.pk}/change/")

    assert event_page.status_code == 200 and event.public_id in event_page.content.decode()
    assert log.status_code == 200 and event.public_id in log.content.decode()
    assert attempt_page.status_code == 200 and "503" in attempt_page.content.decode()
    assert client.get("/admin/events/event/add/").status_code == 403
    posted = client.post(f"/admin/events/deliveryattempt/{attempt.pk}/change/", {"status_code": 200})
    assert posted.status_code == 403 and DeliveryAttempt.objects.get().status_code == 503
