from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from messaging.models import MetaApp
from webhooks.models import Delivery


def delivery_record(*, meta_app: MetaApp, body: bytes, signature: str) -> Delivery:
    """Store the raw body, encrypted under the app owner's raw-delivery key, in one short transaction.

    Processing picks stored deliveries up from the ledger; nothing is lost if the process dies after this.
    """
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
    return delivery
