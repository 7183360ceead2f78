"""Outbound: the outbox, send attempts, idempotency records and channel alerts."""

from __future__ import annotations

from datetime import timedelta

from django.db import models

from accounts.models import Tenant
from core.models import BaseModel
from messaging.models.apps_channels import Channel
from messaging.models.messages import Message


class OutboxEntry(models.Model):
    """Written in the same transaction as a queued message; the dispatcher is published from here after commit,
    and a beat relay publishes again any entry due but never (or long ago) published."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, primary_key=True, related_name="outbox")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    available_at = models.DateTimeField(help_text="Not published before this time (scheduled sends, backoff).")
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["available_at", "published_at"], name="outbox_due")]
        verbose_name_plural = "outbox entries"

    def __str__(self) -> str:
        return f"outbox {self.message_id}"


class AttemptOutcome(models.TextChoices):
    PENDING = "pending", "Pending (call in progress or worker lost)"
    ACCEPTED = "accepted", "Accepted"
    THROTTLED = "throttled", "Throttled"
    TRANSIENT = "transient", "Transient failure"
    PERMANENT = "permanent", "Permanent failure"
    CHANNEL = "channel", "Channel-level failure"
    UNKNOWN = "unknown", "Unknown outcome"


class SendAttempt(models.Model):
    """One Graph call for one message, recorded before the call: a crash leaves a ``pending`` row behind.
    Holds codes and timings only, never the body, the token or Meta's free-text message."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempts")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.PENDING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=200, blank=True)
    fbtrace_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "number"], name="send_attempt_unique_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id}: {self.outcome}"


IDEMPOTENCY_WINDOW = timedelta(hours=24)  # a send's Idempotency-Key is honoured at least this long, then purged


class IdempotencyRecord(BaseModel):
    """``Idempotency-Key`` of a send: the same key and body get the first response again; another body, 409.
    Kept ``IDEMPOTENCY_WINDOW``, then deleted by the retention purge (its request hash covers the recipient)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=255)
    request_sha256 = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(help_text="Ids and statuses only: never message content.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_unique_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_due")]

    def __str__(self) -> str:
        return f"idempotency {self.key[:16]}"


class ChannelAlert(BaseModel):
    """A channel-level send error (token expired, account blocked or locked) that paused the channel."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="alerts")
    error_code = models.IntegerField()
    error_title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.error_title} ({self.error_code})"
