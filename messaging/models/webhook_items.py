"""Webhook items that are neither messages nor statuses: channel-level news from Meta, and items no
channel claims (kept sealed like raw deliveries, never applied)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models

from accounts.models import Tenant
from core.models import BaseModel
from encryption.fields import EncryptedJSONField
from encryption.models import Purpose
from encryption.querysets import EncryptedManager
from messaging.models.apps_channels import Channel, MetaApp


class ChannelEvent(BaseModel):
    """Template status, quality rating, account alerts: channel-level news from Meta (no customer content)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="events")
    field = models.CharField(max_length=64)
    payload = models.JSONField()
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of field and payload: redeliveries match")
    received_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "fingerprint"], name="channel_event_unique")]

    def __str__(self) -> str:
        return f"{self.field} on {self.channel_id}"


def raw_day_bucket(row: QuarantinedItem) -> str:
    return (row.received_at.date() + timedelta(days=settings.GATEWAY_RAW_DELIVERY_DAYS + 1)).isoformat()


class QuarantinedItem(BaseModel):
    """A webhook item no channel of its app claims (or that could not be read): kept, never applied.

    ``tenant_id`` is the app owner's (None for a shared app): the item stays under the keys it arrived with.
    """

    meta_app = models.ForeignKey(MetaApp, on_delete=models.PROTECT, related_name="quarantined_items")
    tenant_id = models.UUIDField(null=True, blank=True)
    delivery_id = models.UUIDField()
    item_path = models.CharField(max_length=128, help_text="Where the item sat in the delivery, e.g. entry[0]…")
    received_at = models.DateTimeField()
    platform = models.CharField(max_length=16, blank=True)
    routing_id = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=64)
    payload = EncryptedJSONField(purpose=Purpose.RAW, scope=raw_day_bucket)
    replayed_at = models.DateTimeField(null=True, blank=True, help_text="When a replay applied the item.")
    replay_outcome = models.CharField(max_length=32, blank=True, help_text="What the replay did: stored, status…")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Kept no longer than raw deliveries.")

    objects: ClassVar[models.Manager[QuarantinedItem]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        constraints = [models.UniqueConstraint(fields=["delivery_id", "item_path"], name="quarantine_unique_item")]
        indexes = [models.Index(fields=["expires_at"], name="quarantine_due")]

    def __str__(self) -> str:
        return f"quarantined {self.reason} {self.routing_id}"
