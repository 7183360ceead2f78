"""Security alerts, the hourly counts behind baselines, and per-tenant threshold overrides.

Tenants are referred to by id (audit sits below accounts). Evidence holds ids and counts, never content.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class SecurityAlert(models.Model):
    """One suspicious pattern a detector saw. While open, the same detector and dedupe key bump this row
    (``occurrences``, ``last_seen``) instead of raising another one. ``tenant_id`` is None for operator-wide alerts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant_id = models.UUIDField(null=True, blank=True, db_index=True)
    detector = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    dedupe_key = models.CharField(max_length=200)
    title = models.CharField(max_length=200)
    evidence = models.JSONField(default=dict)
    suggested_action = models.TextField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    occurrences = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by_id = models.UUIDField(null=True, blank=True)
    resolved_by_label = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["detector", "dedupe_key"],
                condition=Q(status="open"),
                name="security_alert_one_open_per_key",
            )
        ]
        indexes = [models.Index(fields=["-first_seen"], name="security_alert_newest")]
        ordering = ["-first_seen"]

    def __str__(self) -> str:
        return f"{self.severity} {self.detector}: {self.title}"


class HourlyCount(models.Model):
    """Durable counts per hour of what detectors watch (``metric`` about ``subject``, e.g. signature failures of
    one Meta app): a baseline is the typical hour of the past days. Sliding windows live in counters, not here."""

    metric = models.CharField(max_length=64)
    subject = models.CharField(max_length=64)
    tenant_id = models.UUIDField(null=True, blank=True)
    hour = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric", "subject", "hour"], name="hourly_count_unique_hour"),
        ]
        indexes = [models.Index(fields=["metric", "tenant_id", "hour"], name="hourly_count_tenant_hour")]

    def __str__(self) -> str:
        return f"{self.metric} {self.subject} @ {self.hour:%Y-%m-%d %H}:00 = {self.count}"


class ThresholdOverride(models.Model):
    """A tenant's own value for one detection threshold (the installation's setting applies otherwise)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant_id = models.UUIDField()
    name = models.CharField(max_length=64)
    value = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant_id", "name"], name="threshold_override_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"

    def clean(self) -> None:
        if self.name not in settings.SECURITY_DETECTION:
            raise ValidationError({"name": "Not a detection threshold (see docs/security-alerts.md)."})


class ApiKeyNetwork(models.Model):
    """A network (/24 or /64) an API key has been used from; the first use from a new one raises an alert."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    api_key_id = models.UUIDField()
    tenant_id = models.UUIDField()
    network = models.CharField(max_length=64)
    first_seen = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key_id", "network"], name="api_key_network_unique")]

    def __str__(self) -> str:
        return self.network
