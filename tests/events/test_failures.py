"""The two broad catches of event delivery are not silent: a delivery whose attempt breaks is logged by class
name (never the exception's text, which may quote the payload), counted, and left to its lease, while the rest of
its batch goes on; a publish the broker refuses is logged and left to the relay."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from accounts.models import Tenant
from core.tasks import registered_task
from events import delivery as delivery_module
from events.models import DeliveryStatus, EventDelivery
from events.publishing import deliveries_publish
from events.signing import signing_secrets as endpoint_signing_secrets
from events.task_names import DELIVER_TASK
from messaging.models import Channel
from tests.events.conftest import EndpointFactory
from tests.events.delivery_support import due_deliver, events_received_record

pytestmark = pytest.mark.django_db(transaction=True)
SECRET_TEXT = "the customer's order number 4417"


def test_an_attempt_that_breaks_is_logged_by_class_and_counted_and_the_batch_goes_on(
    tenant_a: Tenant,
    channel_a: Channel,
    endpoint_make: EndpointFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint_make(tenant_a, url="http://127.0.0.1:9/hook")
    events_received_record(tenant_a, channel_a, count=3)

    def breaks(url: str, *, body: bytes, headers: dict[str, str]) -> Any:
        raise ValueError(SECRET_TEXT)

    monkeypatch.setattr(delivery_module, "event_post", breaks)
    with caplog.at_level(logging.ERROR, logger="events.delivery"):
        counts = due_deliver()

    assert counts["error"] == 3
    broke = [record for record in caplog.records if record.getMessage() == "event delivery attempt broke"]
    assert len(broke) == 3 and {getattr(record, "error", None) for record in broke} == {"ValueError"}
    assert SECRET_TEXT not in caplog.text
    # Each stays leased: once its lease expires the relay takes it back (or fails it when its attempts are spent).
    assert set(EventDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERING}


def test_a_publish_the_broker_refuses_is_logged_and_left_to_the_relay(
    tenant_a: Tenant,
    channel_a: Channel,
    endpoint_make: EndpointFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint_make(tenant_a)
    events_received_record(tenant_a, channel_a, count=2)
    ids = list(EventDelivery.objects.values_list("pk", flat=True))

    def refused(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(registered_task(DELIVER_TASK), "apply_async", refused)
    with caplog.at_level(logging.WARNING, logger="events.publishing"):
        published = deliveries_publish(ids)

    assert published == 0
    assert "publishing deliveries failed; the relay tries again" in caplog.text
    assert set(EventDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PENDING}


def test_one_endpoints_part_that_breaks_never_stops_the_other_endpoints_part(
    tenant_a: Tenant,
    channel_a: Channel,
    endpoint_make: EndpointFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = endpoint_make(tenant_a, url="http://127.0.0.1:9/broken")
    endpoint_make(tenant_a, url="http://127.0.0.1:9/refuses")  # nothing listens: each attempt fails and is retried
    events_received_record(tenant_a, channel_a, count=2)

    def breaks_for_one(endpoint: Any, **kwargs: Any) -> Any:
        if endpoint.pk == broken.pk:
            raise KeyError(SECRET_TEXT)
        return endpoint_signing_secrets(endpoint, **kwargs)

    monkeypatch.setattr(delivery_module, "signing_secrets", breaks_for_one)
    with caplog.at_level(logging.ERROR, logger="events.delivery"):
        counts = due_deliver()

    assert counts["error"] == 2
    broke = [record for record in caplog.records if record.getMessage() == "event delivery attempt broke"]
    assert {getattr(record, "error", None) for record in broke} == {"KeyError"} and len(broke) == 2
    assert SECRET_TEXT not in caplog.text
    statuses = (
        dict(EventDelivery.objects.filter(endpoint=broken).values_list("status", "attempts").distinct()),
        set(EventDelivery.objects.exclude(endpoint=broken).values_list("status", "attempts")),
    )
    assert statuses[0] == {DeliveryStatus.DELIVERING: 1}  # left to its lease
    assert statuses[1] == {(DeliveryStatus.PENDING, 1)}  # attempted, refused, scheduled again
