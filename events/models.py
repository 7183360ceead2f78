"""The event stream's tables: the tenants' endpoints, the events, one delivery row per event and endpoint (the
outbox), and one row per delivery attempt (the delivery log).

Events refer to messages, contacts and channels by id without foreign keys: an event outlives an erased contact
(its delivery then carries ids only), and deleting a message never waits on the event table.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from accounts.models import Tenant, User
from core.models import BaseModel, time_ordered_uuid
from encryption.fields import EncryptedTextField
from encryption.models import Purpose
from encryption.querysets import EncryptedManager
from messaging.business_events import EventType
from messaging.models import Channel

EVENT_ID_PREFIX = "evt_"


class PayloadMode(models.TextChoices):
    THIN = "thin", "Thin: ids only, the consumer fetches through the API"
    FULL = "full", "Full: content included while it is retained"


class Endpoint(BaseModel):
    """A URL of a tenant's that receives the events it subscribes to, signed per the Standard Webhooks spec."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="event_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text="The event types delivered here.")
    channel = models.ForeignKey(
        Channel,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only this channel's events; empty: every channel's.",
    )
    payload_mode = models.CharField(max_length=8, choices=PayloadMode.choices, default=PayloadMode.THIN)
    is_enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, help_text="The first failure since the last success.")
    max_in_flight = models.PositiveSmallIntegerField(default=4, help_text="Deliveries to this URL at once.")
    secret = EncryptedTextField(purpose=Purpose.SECRET)
    previous_secret = EncryptedTextField(purpose=Purpose.SECRET, null=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    objects: ClassVar[models.Manager[Endpoint]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        indexes = [models.Index(fields=["tenant", "is_enabled"], name="events_endpoint_tenant_enabled")]

    def __str__(self) -> str:
        return self.description or f"endpoint {self.pk}"


class Event(models.Model):
    """One event of a tenant's: ids and clear facts (never content). ``sequence`` orders the feed: it is given
    after commit, so a reader at sequence N never later finds an event below N."""

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    type = models.CharField(max_length=40, choices=[(value.value, value.value) for value in EventType])
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    channel_id = models.UUIDField(null=True, blank=True)
    conversation_id = models.UUIDField(null=True, blank=True)
    contact_id = models.UUIDField(null=True, blank=True)
    message_id = models.UUIDField(null=True, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    sequence = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "sequence"], name="events_event_tenant_sequence"),
            models.Index(fields=["tenant", "created_at"], name="events_event_tenant_created"),
            models.Index(fields=["contact_id"], name="events_event_contact"),
            models.Index(fields=["id"], name="events_event_unsequenced", condition=models.Q(sequence__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"

    @property
    def public_id(self) -> str:
        return f"{EVENT_ID_PREFIX}{self.pk.hex}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERING = "delivering", "Delivering"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (retries used up)"


class EventDelivery(models.Model):
    """The outbox: one event owed to one endpoint, written in the transaction that wrote the event."""

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True, help_text="Last handed to the broker.")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(
        null=True, blank=True, help_text="Who holds the lease: set at lease, required by the outcome's write."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="events_delivery_once")]
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="events_delivery_tenant_created"),
            models.Index(
                fields=["next_attempt_at"],
                name="events_delivery_due",
                condition=models.Q(status__in=["pending", "delivering"]),
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try of a delivery: the delivery log. The response excerpt is short and never holds our payload."""

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    delivery = models.ForeignKey(EventDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="+", db_index=False)
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=40, blank=True, help_text="timeout, connection, refused_address, ...")
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=512, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "attempted_at"], name="events_attempt_endpoint_time"),
            models.Index(fields=["tenant", "attempted_at"], name="events_attempt_tenant_time"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.pk} ({self.status_code or self.error})"
