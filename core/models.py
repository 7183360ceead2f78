from __future__ import annotations

import uuid

import uuid_utils.compat
from django.db import models


def time_ordered_uuid() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): the milliseconds since the epoch first, then random bits; increasing within a process.

    For the tables that take the most inserts: a new key lands at the right end of the primary-key index, not on
    a random leaf, so after a checkpoint an insert does not first write a whole index page to the WAL. It tells
    when the row was made, as its timestamps do."""
    return uuid_utils.compat.uuid7()


class BaseModel(models.Model):
    """UUID primary key generated before insert (encryption binds ciphertexts to it), timestamps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Lease(models.Model):
    """A named lock with an expiry, for installs without Redis (see core.locks)."""

    name = models.CharField(max_length=200, primary_key=True)
    token = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


class ThrottleBucket(models.Model):
    """Throttle state for installs without Redis (see core.throttle)."""

    key = models.CharField(max_length=200, primary_key=True)
    attempts = models.PositiveIntegerField(default=0)
    window_ends_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)
    strikes = models.PositiveIntegerField(default=0)
    strikes_end_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key
