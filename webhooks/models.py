"""The raw delivery ledger: every signed POST is stored (encrypted) before Meta gets its 200."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import BaseModel, time_ordered_uuid
from core.raw_ledgers import RawLedger
from encryption.fields import EncryptedBytesField
from encryption.models import Purpose
from encryption.querysets import EncryptedManager
from messaging.models import MetaApp


def raw_day_bucket(delivery: Delivery) -> str:
    """The day by which this raw body must be gone: the key for that day can then be destroyed."""
    return (delivery.received_at.date() + timedelta(days=settings.GATEWAY_RAW_DELIVERY_DAYS + 1)).isoformat()


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class Delivery(BaseModel):
    """One webhook POST as received. ``tenant_id`` is the app owner's (None for a shared app)."""

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    meta_app = models.ForeignKey(MetaApp, on_delete=models.PROTECT, related_name="deliveries")
    tenant_id = models.UUIDField(null=True, blank=True)
    received_at = models.DateTimeField()
    ack_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Milliseconds from the request reaching the gateway to its record."
    )
    signature = models.CharField(max_length=71)
    body_bytes = models.PositiveIntegerField()
    body = EncryptedBytesField(purpose=Purpose.RAW, scope=raw_day_bucket)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.RECEIVED)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Processing runs started; capped, then failed.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="The raw body goes after this (policy).")

    objects: ClassVar[models.Manager[Delivery]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["status", "received_at"]),
            models.Index(fields=["expires_at"], name="delivery_due"),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"


def delivery_ledger() -> RawLedger:
    """The ledger as retention, erasure and legal holds see it: only processed (or failed for good) deliveries
    are purged or erased; the day key of one still to be processed stays."""
    return RawLedger(
        model=Delivery,
        body_field="body",
        settled=Q(status__in=(DeliveryStatus.PROCESSED, DeliveryStatus.FAILED)),
        pending=Q(status=DeliveryStatus.RECEIVED),
    )
