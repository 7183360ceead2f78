"""Recording events the way messaging does, attempting what is due in this process, and checking what a receiver
got with the ``standardwebhooks`` package (the consumers' own library, not our code)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from accounts.models import Tenant
from events.delivery import deliveries_deliver
from events.models import DeliveryStatus, EventDelivery
from messaging.business_events import BusinessEvent, EventType, business_events_record
from messaging.models import Channel
from tests.local_http import LocalServer, Seen


def events_received_record(tenant: Tenant, channel: Channel, count: int = 1) -> None:
    """``count`` message.received events, in one transaction, as messaging records them."""
    now = timezone.now()
    events = [
        BusinessEvent(type=EventType.MESSAGE_RECEIVED, tenant_id=tenant.pk, channel_id=channel.pk, occurred_at=now)
        for _ in range(count)
    ]
    with transaction.atomic():
        business_events_record(events)


def due_deliver() -> dict[str, int]:
    """Attempt, here, every delivery that is pending now (what the events workers would)."""
    ids = list(EventDelivery.objects.filter(status=DeliveryStatus.PENDING).values_list("pk", flat=True))
    return deliveries_deliver(ids)


def signature_verifies(seen: Seen, secret: str) -> bool:
    try:
        Webhook(secret).verify(seen.body, seen.headers)
    except WebhookVerificationError:
        return False
    return True


@contextmanager
def local_server() -> Iterator[LocalServer]:
    server = LocalServer().start()
    try:
        yield server
    finally:
        server.stop()
