"""The outbox: events and the deliveries they owe are written in the caller's transaction, for the endpoints
that subscribe, and nowhere else."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from events.models import DeliveryStatus, Event, EventDelivery
from messaging.business_events import BusinessEvent, EventType, OutsideTransactionError, business_events_record
from messaging.models import Channel
from tests.events.conftest import EndpointFactory, channel_for

pytestmark = pytest.mark.django_db(transaction=True)


def _received(tenant: Tenant, channel: Channel) -> BusinessEvent:
    return BusinessEvent(
        type=EventType.MESSAGE_RECEIVED, tenant_id=tenant.pk, channel_id=channel.pk, occurred_at=timezone.now()
    )


def test_an_event_owes_one_delivery_to_each_endpoint_that_subscribes_to_its_type_and_channel(
    tenant_a: Tenant, tenant_b: Tenant, channel_a: Channel, channel_b: Channel, endpoint_make: EndpointFactory
) -> None:
    every_channel = endpoint_make(tenant_a)
    this_channel = endpoint_make(tenant_a, channel=channel_a)
    other_channel = endpoint_make(tenant_a, channel=channel_for(tenant_a, "1002"))
    other_type = endpoint_make(tenant_a, types=[EventType.MESSAGE_STATUS.value])
    disabled = endpoint_make(tenant_a, is_enabled=False)
    other_tenant = endpoint_make(tenant_b)

    with transaction.atomic():
        business_events_record([_received(tenant_a, channel_a)])

    event = Event.objects.get()
    assert (event.tenant_id, event.type, event.channel_id) == (tenant_a.pk, "message.received", channel_a.pk)
    owed = set(EventDelivery.objects.values_list("endpoint_id", flat=True))
    assert owed == {every_channel.pk, this_channel.pk}
    assert not owed & {other_channel.pk, other_type.pk, disabled.pk, other_tenant.pk}
    assert set(EventDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PENDING}


def test_events_roll_back_with_the_change_that_caused_them(
    tenant_a: Tenant, channel_a: Channel, endpoint_make: EndpointFactory
) -> None:
    endpoint_make(tenant_a)

    def change_that_fails() -> None:
        with transaction.atomic():
            business_events_record([_received(tenant_a, channel_a)])
            raise RuntimeError("change failed")

    with pytest.raises(RuntimeError, match="change failed"):
        change_that_fails()

    assert not Event.objects.exists()
    assert not EventDelivery.objects.exists()


def test_an_event_recorded_outside_a_transaction_is_refused(tenant_a: Tenant, channel_a: Channel) -> None:
    with pytest.raises(OutsideTransactionError):
        business_events_record([_received(tenant_a, channel_a)])

    assert not Event.objects.exists()
