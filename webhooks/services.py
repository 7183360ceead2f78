from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from core.tasks import enqueue_on_commit
from messaging.inbound import delivery_items_store
from messaging.models import MetaApp
from messaging.providers import parse_webhook
from webhooks.models import Delivery, DeliveryStatus


def delivery_record(*, meta_app: MetaApp, body: bytes, signature: str) -> Delivery:
    """Store the raw body, encrypted under the app owner's raw-delivery key, and enqueue its processing
    once that commits. If the publish is lost, the sweeper finds the delivery still ``received``."""
    from webhooks.tasks import process_delivery_task

    with transaction.atomic():
        delivery = Delivery(
            meta_app=meta_app,
            tenant_id=meta_app.tenant_id,
            received_at=timezone.now(),
            signature=signature,
            body_bytes=len(body),
            body=body,
        )
        delivery.save(force_insert=True)
        enqueue_on_commit(process_delivery_task, delivery.pk)
    return delivery


def delivery_process(*, delivery_id: uuid.UUID) -> Counter[str]:
    """Parse a stored delivery and store each of its items. Safe to run twice, or twice at once."""
    delivery = Delivery.objects.select_related("meta_app").get(pk=delivery_id)
    if delivery.status == DeliveryStatus.PROCESSED:
        return Counter({"already_processed": 1})
    parsed = parse_webhook(delivery.body)
    outcomes = delivery_items_store(
        meta_app=delivery.meta_app, delivery_id=delivery.pk, parsed=parsed, received_at=delivery.received_at
    )
    outcomes["problems"] = len(parsed.problems)
    Delivery.objects.filter(pk=delivery.pk).exclude(status=DeliveryStatus.PROCESSED).update(
        status=DeliveryStatus.PROCESSED, processed_at=timezone.now()
    )
    return outcomes


def deliveries_requeue_stale(*, older_than: timedelta) -> int:
    """Publish again every delivery stored but still unprocessed after ``older_than`` (a lost broker message)."""
    from webhooks.tasks import process_delivery_task

    cutoff = timezone.now() - older_than
    stale = Delivery.objects.filter(status=DeliveryStatus.RECEIVED, received_at__lt=cutoff).order_by("received_at")
    ids = list(stale.values_list("pk", flat=True)[:1000])
    for delivery_id in ids:
        enqueue_on_commit(process_delivery_task, delivery_id)
    return len(ids)
