"""Deliveries are signed per the Standard Webhooks spec: a receiver using the spec's own library verifies each one,
refuses a tampered one, and during a rotation's overlap verifies with either the old or the new secret."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Tenant
from events.models import Endpoint, Event
from events.signing import endpoint_secret_new, endpoint_secret_rotate
from messaging.models import Channel
from tests.events.conftest import EndpointFactory
from tests.events.delivery_support import due_deliver, events_received_record, local_server, signature_verifies
from tests.local_http import Reply, Seen

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_secret_is_whsec_and_the_base64_of_32_random_bytes() -> None:
    first, second = endpoint_secret_new(), endpoint_secret_new()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert first != second


def test_every_delivery_verifies_with_the_standard_library_and_a_tampered_one_does_not(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    with local_server() as server:
        server.route("/hook", Reply(200))
        endpoint = endpoint_make(tenant_a, url=server.url("/hook"), secret=endpoint_secret_new())
        events_received_record(tenant_a, channel_a, count=3)

        assert due_deliver() == {"delivered": 3, "not_due": 0}

    event_ids = {event.public_id for event in Event.objects.all()}
    assert {seen.headers["webhook-id"] for seen in server.requests} == event_ids
    for seen in server.requests:
        assert signature_verifies(seen, endpoint.secret)
        assert json.loads(seen.body)["id"] == seen.headers["webhook-id"]
        assert seen.headers["webhook-signature"].count("v1,") == 1
    seen = server.requests[0]
    tampered = Seen(seen.method, seen.path, seen.headers, seen.body.replace(b"message.received", b"message.echo"))
    assert not signature_verifies(tampered, endpoint.secret)
    assert not signature_verifies(seen, endpoint_secret_new())


def test_during_a_rotation_overlap_the_old_and_the_new_secret_both_verify_and_after_it_only_the_new(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    with local_server() as server:
        server.route("/hook", Reply(200))
        old_secret = endpoint_secret_new()
        endpoint = endpoint_make(tenant_a, url=server.url("/hook"), secret=old_secret)

        new_secret = endpoint_secret_rotate(endpoint, overlap=timedelta(hours=1))
        events_received_record(tenant_a, channel_a)
        due_deliver()
        Endpoint.objects.filter(pk=endpoint.pk).update(previous_secret_until=timezone.now() - timedelta(seconds=1))
        events_received_record(tenant_a, channel_a)
        due_deliver()

    during, after = server.requests
    assert new_secret != old_secret
    assert endpoint.secret == new_secret
    assert during.headers["webhook-signature"].count("v1,") == 2
    assert signature_verifies(during, old_secret)
    assert signature_verifies(during, new_secret)
    assert after.headers["webhook-signature"].count("v1,") == 1
    assert signature_verifies(after, new_secret)
    assert not signature_verifies(after, old_secret)
