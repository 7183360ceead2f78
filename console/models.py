"""Rollups the dashboard reads instead of the large tables: they keep its page fast with millions of messages."""

from __future__ import annotations

from django.db import models

from accounts.models import Tenant
from messaging.models import Channel, Direction, MessageStatus


class TrafficHour(models.Model):
    """Messages of one channel in one hour (by provider time), one direction, one status and failure code.

    Derived data: the rollup task rewrites a tenant's recent hours every minute, the backfill command any range.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField(help_text="The start of the hour (UTC).")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    failure_code = models.IntegerField(null=True, blank=True, help_text="Meta's error code of a failed send.")
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "hour"], name="traffic_hour_tenant_hour"),
            models.Index(fields=["hour"], name="traffic_hour_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.direction} {self.status}: {self.count}"
