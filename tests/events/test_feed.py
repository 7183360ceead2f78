"""The pull feed: the tenant's events in sequence order from a cursor, late commits after the cursor, thin unless
asked and allowed; and the replay of one event to one endpoint."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.db import connections, transaction
from rest_framework.test import APIClient

from accounts.models import ApiScope, Tenant
from audit.models import AuditAction, AuditEvent
from core.models import time_ordered_uuid
from events.models import Event, EventDelivery
from messaging.business_events import EventType
from messaging.models import Channel
from tests.audit.support import postgresql_only
from tests.events.conftest import EndpointFactory, message_make
from tests.events.test_api import client_for, event_make

pytestmark = pytest.mark.django_db

FEED = "/api/v1/events/"


def feed_page(client: APIClient, **query: Any) -> dict[str, Any]:
    response = client.get(FEED, query)
    assert response.status_code == 200, response.content
    page: dict[str, Any] = response.json()
    return page


def test_the_feed_needs_the_events_read_scope(tenant_a: Tenant) -> None:
    event_make(tenant_a)
    manager = client_for(tenant_a, ApiScope.EVENTS_MANAGE, ApiScope.MESSAGES_READ)

    assert manager.get(FEED).status_code == 403


def test_the_feed_serves_the_tenants_events_in_order_page_by_page(
    tenant_a: Tenant, tenant_b: Tenant, channel_a: Channel
) -> None:
    ours = [event_make(tenant_a, channel=channel_a, facts={"status": "read"}) for _ in range(5)]
    event_make(tenant_b)
    event_make(tenant_a, type=EventType.PING)  # a test event: for its endpoint only
    reader = client_for(tenant_a, ApiScope.EVENTS_READ)

    first = feed_page(reader, limit=3)
    second = feed_page(reader, after=first["next_cursor"], limit=3)
    after_the_end = feed_page(reader, after=second["next_cursor"])

    served = [row["id"] for row in first["results"] + second["results"]]
    assert served == [event.public_id for event in ours]
    assert (after_the_end["results"], after_the_end["next_cursor"]) == ([], second["next_cursor"])
    envelope = first["results"][0]
    assert set(envelope) == {"id", "type", "timestamp", "tenant", "data"}
    assert (envelope["type"], envelope["tenant"]) == ("message.received", str(tenant_a.pk))
    assert envelope["data"]["channel"] == str(channel_a.pk)
    assert (envelope["data"]["status"], envelope["data"]["payload"]) == ("read", "thin")


def test_an_event_committed_after_a_read_comes_after_the_cursor_even_with_an_older_id(tenant_a: Tenant) -> None:
    reader = client_for(tenant_a, ApiScope.EVENTS_READ)
    late_id = time_ordered_uuid()  # drawn first, as by a transaction that commits last
    early = [event_make(tenant_a) for _ in range(2)]
    assert all(late_id < event.pk for event in early)
    first = feed_page(reader)

    late = event_make(tenant_a, id=late_id)
    second = feed_page(reader, after=first["next_cursor"])

    assert [row["id"] for row in first["results"]] == [event.public_id for event in early]
    assert [row["id"] for row in second["results"]] == [late.public_id]
    assert second["next_cursor"] > first["next_cursor"]
    assert feed_page(reader)["results"][-1]["id"] == late.public_id  # from the start: in commit order


@pytest.mark.django_db(transaction=True)
@postgresql_only("SQLite has one writer at a time: no transaction can commit below what another has numbered")
def test_an_event_a_concurrent_transaction_commits_late_is_served_above_the_cursor(tenant_a: Tenant) -> None:
    """Two connections: the event another transaction holds uncommitted is neither numbered nor served; once it
    commits it comes after everything already served, though its id is older."""
    reader = client_for(tenant_a, ApiScope.EVENTS_READ)
    inserted, release = threading.Event(), threading.Event()
    late_id = time_ordered_uuid()

    def concurrent_transaction() -> None:
        try:
            with transaction.atomic():
                event_make(tenant_a, id=late_id)
                inserted.set()
                release.wait(timeout=60)
        finally:
            connections.close_all()

    writer = threading.Thread(target=concurrent_transaction)
    writer.start()
    try:
        assert inserted.wait(timeout=60)
        early = event_make(tenant_a)
        first = feed_page(reader)
    finally:  # never leave the other transaction open past this test
        release.set()
        writer.join(timeout=60)
    second = feed_page(reader, after=first["next_cursor"])

    assert [row["id"] for row in first["results"]] == [early.public_id]
    assert [row["id"] for row in second["results"]] == [f"evt_{late_id.hex}"]
    assert Event.objects.get(pk=late_id).sequence == first["next_cursor"] + 1


def test_full_payloads_need_messages_read_as_well(tenant_a: Tenant, channel_a: Channel) -> None:
    message = message_make(channel_a, body="hello there")
    event_make(tenant_a, channel=channel_a, message_id=message.pk)
    events_only = client_for(tenant_a, ApiScope.EVENTS_READ)
    with_messages = client_for(tenant_a, ApiScope.EVENTS_READ, ApiScope.MESSAGES_READ)

    refused = feed_page(events_only, payload="full")["results"][0]["data"]
    thin = feed_page(with_messages)["results"][0]["data"]
    full = feed_page(with_messages, payload="full")["results"][0]["data"]

    assert (refused["payload"], "message_detail" in refused) == ("thin", False)
    assert (thin["payload"], "message_detail" in thin) == ("thin", False)
    assert full["payload"] == "full"
    assert full["message_detail"]["content"] == {"body": "hello there"}
    assert full["message"] == str(message.pk)


def test_malformed_feed_parameters_answer_400(tenant_a: Tenant) -> None:
    reader = client_for(tenant_a, ApiScope.EVENTS_READ)

    for query in ({"after": "-1"}, {"after": "x"}, {"limit": "0"}, {"limit": "501"}, {"payload": "all"}):
        assert reader.get(FEED, query).status_code == 400


def test_one_event_is_replayed_to_one_endpoint_of_its_tenant(
    tenant_a: Tenant, tenant_b: Tenant, endpoint_make: EndpointFactory
) -> None:
    endpoint = endpoint_make(tenant_a)
    event = event_make(tenant_a)
    theirs_event, theirs_endpoint = event_make(tenant_b), endpoint_make(tenant_b)
    manager = client_for(tenant_a, ApiScope.EVENTS_MANAGE)

    def replay(event_id: str, endpoint_id: object) -> int:
        return int(manager.post(f"{FEED}{event_id}/replay/?endpoint={endpoint_id}").status_code)

    assert replay(theirs_event.public_id, endpoint.pk) == 404
    assert replay(event.public_id, theirs_endpoint.pk) == 404
    assert replay(f"evt_{uuid.uuid4().hex}", endpoint.pk) == 404
    assert replay(event.public_id, "nope") == 400
    assert not EventDelivery.objects.exists()
    assert replay(event.public_id, endpoint.pk) == 202
    assert replay(event.public_id, endpoint.pk) == 202  # again: the same delivery, owed once more
    [delivery] = EventDelivery.objects.all()
    assert (delivery.event_id, delivery.endpoint_id, delivery.status) == (event.pk, endpoint.pk, "pending")
    assert AuditEvent.objects.filter(action=AuditAction.EVENTS_REPLAYED, tenant_id=tenant_a.pk).count() == 2
    reader = client_for(tenant_a, ApiScope.EVENTS_READ)
    assert reader.post(f"{FEED}{event.public_id}/replay/?endpoint={endpoint.pk}").status_code == 403


def test_the_openapi_document_describes_the_envelope_the_feed_serves(db: None) -> None:
    document = APIClient().get("/api/v1/schema/").json()
    schemas, paths = document["components"]["schemas"], document["paths"]

    feed = paths["/api/v1/events/"]["get"]
    assert feed["operationId"] == "events_list"
    assert feed["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FeedPage"
    }
    assert schemas["FeedPage"]["properties"]["results"]["items"] == {"$ref": "#/components/schemas/EventEnvelope"}
    assert set(schemas["EventEnvelope"]["required"]) == {"id", "type", "timestamp", "tenant", "data"}
    assert {"channel", "message", "payload", "status", "message_detail"} <= set(schemas["EventData"]["properties"])
    created = paths["/api/v1/event-endpoints/"]["post"]["responses"]["201"]["content"]["application/json"]
    shown = paths["/api/v1/event-endpoints/{endpoint_id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "secret" in schemas[created["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]
    assert "secret" not in schemas[shown["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]
