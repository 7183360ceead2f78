"""Event endpoints over the API: scopes, tenants, the secret shown once, validation, audit, and the operations."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.apikeys import api_key_issue
from accounts.models import ApiScope, Tenant
from audit.models import AuditAction, AuditEvent
from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, Event, EventDelivery
from messaging.business_events import EventType
from messaging.models import Channel
from tests.events.conftest import EndpointFactory
from tests.problems import NOT_FOUND

pytestmark = pytest.mark.django_db

BASE = "/api/v1/event-endpoints/"
RECEIVER = "http://127.0.0.1:9/in"  # loopback and http: allowed outside production
OBJECT_ROUTES = [
    ("get", ""),
    ("patch", ""),
    ("delete", ""),
    ("post", "rotate-secret/"),
    ("post", "test/"),
    ("post", "replay/"),
    ("post", "resend-failed/"),
    ("get", "deliveries/"),
]


def client_for(tenant: Tenant, *scopes: str) -> APIClient:
    issued = api_key_issue(tenant=tenant, name="integration", scopes=list(scopes))
    client = APIClient(REMOTE_ADDR="203.0.113.5")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


@pytest.fixture
def manager_a(tenant_a: Tenant) -> APIClient:
    return client_for(tenant_a, ApiScope.EVENTS_MANAGE)


def audited(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _fields(response: Any) -> list[str]:
    """The fields a 400 problem document names, in order, each once."""
    return list(dict.fromkeys(str(error["field"]) for error in response.json()["errors"]))


def create_body(**fields: Any) -> dict[str, Any]:
    return {"url": RECEIVER, "event_types": [EventType.MESSAGE_RECEIVED.value], **fields}


def event_make(tenant: Tenant, *, channel: Channel | None = None, **fields: Any) -> Event:
    return Event.objects.create(
        tenant=tenant,
        type=fields.pop("type", EventType.MESSAGE_RECEIVED),
        occurred_at=fields.pop("occurred_at", timezone.now()),
        channel_id=channel.pk if channel else None,
        **fields,
    )


def recorded_at(event: Event, moment: datetime) -> Event:
    Event.objects.filter(pk=event.pk).update(created_at=moment)
    return event


def test_creating_an_endpoint_answers_its_secret_once_and_never_again(
    tenant_a: Tenant, manager_a: APIClient, channel_a: Channel
) -> None:
    body = create_body(description="CRM", channel=str(channel_a.pk), payload_mode="full")

    created = manager_a.post(BASE, body, format="json")

    assert created.status_code == 201
    answer = created.json()
    assert answer["secret"].startswith("whsec_") and len(answer["secret"]) > 40
    endpoint = Endpoint.objects.get()
    assert endpoint.secret == answer["secret"]
    assert (answer["url"], answer["description"], answer["channel"]) == (body["url"], "CRM", str(channel_a.pk))
    assert (answer["event_types"], answer["payload_mode"], answer["is_enabled"]) == (["message.received"], "full", True)
    detail = manager_a.get(f"{BASE}{endpoint.pk}/").json()
    listed = manager_a.get(BASE).json()["results"]
    assert "secret" not in detail and [row["id"] for row in listed] == [str(endpoint.pk)]
    assert answer["secret"] not in str(detail) + str(listed)
    assert detail["backlog"] == {
        "pending": 0,
        "oldest_undelivered_seconds": None,
        "attempts_24h": 0,
        "success_rate_24h": None,
    }
    [audit] = audited(AuditAction.EVENT_ENDPOINT_CREATED)
    assert (audit.tenant_id, audit.target_type, audit.target_id) == (tenant_a.pk, "event_endpoint", str(endpoint.pk))
    assert audit.actor_label.startswith("api_key:") and audit.details["host"] == "127.0.0.1"
    assert answer["secret"] not in str(audit.details)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (create_body(event_types=["message.nope"]), "event_types"),
        (create_body(event_types=["ping"]), "event_types"),
        (create_body(event_types=[]), "event_types"),
        (create_body(event_types="message.received"), "event_types"),
        (create_body(url="ftp://127.0.0.1/in"), "url"),
        (create_body(payload_mode="everything"), "payload_mode"),
        ({"event_types": ["message.received"]}, "url"),
    ],
)
def test_refused_values_answer_400_naming_the_field_and_create_nothing(
    manager_a: APIClient, body: dict[str, Any], field: str
) -> None:
    response = manager_a.post(BASE, body, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_request"
    assert _fields(response) == [field]
    assert not Endpoint.objects.exists()
    assert not audited(AuditAction.EVENT_ENDPOINT_CREATED)


def test_a_channel_of_another_tenant_is_refused_like_an_unknown_one(manager_a: APIClient, channel_b: Channel) -> None:
    for channel in (channel_b.pk, uuid.uuid4()):
        response = manager_a.post(BASE, create_body(channel=str(channel)), format="json")
        assert response.status_code == 400
        assert response.json()["errors"] == [
            {"field": "channel", "code": "invalid", "detail": "No such channel in this tenant."}
        ]
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(("method", "suffix"), OBJECT_ROUTES)
def test_another_tenants_endpoint_answers_404_like_an_unknown_one(
    tenant_b: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory, method: str, suffix: str
) -> None:
    theirs = endpoint_make(tenant_b)
    body = {"since": timezone.now().isoformat(), "until": timezone.now().isoformat(), "description": "mine now"}

    for endpoint_id in (theirs.pk, uuid.uuid4()):
        response = getattr(manager_a, method)(f"{BASE}{endpoint_id}/{suffix}", body, format="json")
        assert (response.status_code, response.json()) == (404, NOT_FOUND)

    theirs_now = Endpoint.objects.get(pk=theirs.pk)
    assert (theirs_now.description, theirs_now.secret) == ("", theirs.secret)
    assert not EventDelivery.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="event").exists()


@pytest.mark.parametrize(("method", "suffix"), [("get", None), ("post", None), *OBJECT_ROUTES])
def test_every_endpoint_route_needs_the_events_manage_scope(
    tenant_a: Tenant, endpoint_make: EndpointFactory, method: str, suffix: str | None
) -> None:
    endpoint = endpoint_make(tenant_a)
    reader = client_for(tenant_a, ApiScope.EVENTS_READ, ApiScope.MESSAGES_READ)
    path = BASE if suffix is None else f"{BASE}{endpoint.pk}/{suffix}"

    response = getattr(reader, method)(path, create_body(), format="json")

    assert response.status_code == 403
    assert Endpoint.objects.get().secret == endpoint.secret
    assert not EventDelivery.objects.exists()


def test_changing_an_endpoint_is_audited_and_enabling_it_clears_why_it_was_disabled(
    tenant_a: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(
        tenant_a, is_enabled=False, disabled_reason="410 Gone", disabled_at=timezone.now(), failing_since=timezone.now()
    )
    body = {"is_enabled": True, "event_types": ["message.status", "message.status", "channel.paused"]}

    response = manager_a.patch(f"{BASE}{endpoint.pk}/", body, format="json")

    assert response.status_code == 200
    assert response.json()["event_types"] == ["message.status", "channel.paused"]
    endpoint.refresh_from_db()
    assert (endpoint.is_enabled, endpoint.disabled_reason, endpoint.disabled_at, endpoint.failing_since) == (
        True,
        "",
        None,
        None,
    )
    [audit] = audited(AuditAction.EVENT_ENDPOINT_CHANGED)
    assert audit.details["fields"] == "event_types is_enabled"


def test_a_refused_change_changes_nothing(
    tenant_a: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)

    response = manager_a.patch(f"{BASE}{endpoint.pk}/", {"description": "x", "event_types": ["ping"]}, format="json")

    assert response.status_code == 400 and _fields(response) == ["event_types"]
    endpoint.refresh_from_db()
    assert (endpoint.description, endpoint.event_types) == ("", ["message.received"])
    assert not audited(AuditAction.EVENT_ENDPOINT_CHANGED)


def test_deleting_an_endpoint_is_audited(
    tenant_a: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)

    response = manager_a.delete(f"{BASE}{endpoint.pk}/")

    assert response.status_code == 204
    assert not Endpoint.objects.exists()
    assert [audit.target_id for audit in audited(AuditAction.EVENT_ENDPOINT_DELETED)] == [str(endpoint.pk)]


def test_rotating_the_secret_answers_the_new_one_once_and_keeps_the_old_one_for_the_overlap(
    tenant_a: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    old = endpoint.secret

    response = manager_a.post(f"{BASE}{endpoint.pk}/rotate-secret/", {"overlap_hours": 2}, format="json")

    assert response.status_code == 200
    new = response.json()["secret"]
    endpoint.refresh_from_db()
    assert new.startswith("whsec_") and new != old
    assert (endpoint.secret, endpoint.previous_secret) == (new, old)
    assert endpoint.previous_secret_until is not None
    assert timedelta(hours=1) < endpoint.previous_secret_until - timezone.now() <= timedelta(hours=2)
    assert "secret" not in manager_a.get(f"{BASE}{endpoint.pk}/").json()
    [audit] = audited(AuditAction.EVENT_ENDPOINT_SECRET_ROTATED)
    assert audit.details["overlap_hours"] == 2 and new not in str(audit.details)


def test_an_overlap_over_a_week_is_refused(
    tenant_a: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)

    response = manager_a.post(f"{BASE}{endpoint.pk}/rotate-secret/", {"overlap_hours": 169}, format="json")

    assert response.status_code == 400 and _fields(response) == ["overlap_hours"]
    assert Endpoint.objects.get().secret == endpoint.secret


def test_a_test_event_is_a_ping_owed_to_that_endpoint_only(
    tenant_a: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    endpoint_make(tenant_a)

    response = manager_a.post(f"{BASE}{endpoint.pk}/test/")

    assert response.status_code == 202
    [delivery] = EventDelivery.objects.select_related("event")
    assert (delivery.endpoint_id, delivery.event.type, delivery.event.tenant_id) == (endpoint.pk, "ping", tenant_a.pk)
    assert len(audited(AuditAction.EVENT_ENDPOINT_TESTED)) == 1


def test_replay_owes_the_range_again_and_refuses_more_than_31_days(
    tenant_a: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    now = timezone.now()
    inside = [recorded_at(event_make(tenant_a), now - timedelta(hours=hours)) for hours in (1, 2)]
    recorded_at(event_make(tenant_a), now - timedelta(days=3))
    recorded_at(event_make(tenant_a, type=EventType.MESSAGE_STATUS), now - timedelta(hours=1))  # not subscribed
    path = f"{BASE}{endpoint.pk}/replay/"

    too_long = manager_a.post(path, {"since": now - timedelta(days=32), "until": now}, format="json")
    replayed = manager_a.post(path, {"since": now - timedelta(days=1), "until": now}, format="json")

    assert too_long.status_code == 400 and _fields(too_long) == ["until"]
    assert (replayed.status_code, replayed.json()) == (202, {"count": 2})
    assert set(EventDelivery.objects.values_list("event_id", flat=True)) == {event.pk for event in inside}
    [audit] = audited(AuditAction.EVENTS_REPLAYED)
    assert audit.details["count"] == 2


def test_resend_failed_owes_the_failed_deliveries_again(
    tenant_a: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    failed = delivery_make(endpoint, status=DeliveryStatus.FAILED)
    delivered = delivery_make(endpoint, status=DeliveryStatus.DELIVERED)

    response = manager_a.post(f"{BASE}{endpoint.pk}/resend-failed/")

    assert (response.status_code, response.json()) == (202, {"count": 1})
    assert EventDelivery.objects.get(pk=failed.pk).status == DeliveryStatus.PENDING
    assert EventDelivery.objects.get(pk=delivered.pk).status == DeliveryStatus.DELIVERED
    assert audited(AuditAction.EVENTS_RESENT)[0].details["count"] == 1


def delivery_make(endpoint: Endpoint, *, status: str, attempts: int = 0) -> EventDelivery:
    event = event_make(endpoint.tenant)
    delivery = EventDelivery.objects.create(
        tenant_id=endpoint.tenant_id, event=event, endpoint=endpoint, status=status, next_attempt_at=timezone.now()
    )
    for number in range(attempts):
        DeliveryAttempt.objects.create(
            tenant_id=endpoint.tenant_id,
            delivery=delivery,
            endpoint=endpoint,
            attempted_at=timezone.now() + timedelta(seconds=number),
            status_code=500 + number,
        )
    return delivery


def test_the_delivery_log_lists_attempts_newest_first_and_filters_by_status_and_event(
    tenant_a: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    failing = delivery_make(endpoint, status=DeliveryStatus.PENDING, attempts=2)
    done = delivery_make(endpoint, status=DeliveryStatus.DELIVERED, attempts=1)
    delivery_make(endpoint_make(tenant_a), status=DeliveryStatus.PENDING, attempts=1)  # another endpoint's
    path = f"{BASE}{endpoint.pk}/deliveries/"

    every = manager_a.get(path).json()["results"]
    pending = manager_a.get(path, {"status": "pending"}).json()["results"]
    of_done = manager_a.get(path, {"event": done.event.public_id}).json()["results"]

    assert [(row["event"], row["status_code"]) for row in every] == [
        (failing.event.public_id, 501),
        (done.event.public_id, 500),
        (failing.event.public_id, 500),
    ]
    assert [row["status_code"] for row in pending] == [501, 500]
    assert [(row["event"], row["delivery_status"]) for row in of_done] == [(done.event.public_id, "delivered")]
    assert manager_a.get(path, {"status": "lost"}).status_code == 400


def test_a_tenant_disables_its_endpoint(tenant_a: Tenant, manager_a: APIClient, endpoint_make: EndpointFactory) -> None:
    endpoint = endpoint_make(tenant_a)

    response = manager_a.patch(f"{BASE}{endpoint.pk}/", {"is_enabled": False}, format="json")

    assert (response.status_code, response.json()["is_enabled"]) == (200, False)
    assert Endpoint.objects.get().is_enabled is False
    assert audited(AuditAction.EVENT_ENDPOINT_CHANGED)[0].details["fields"] == "is_enabled"
