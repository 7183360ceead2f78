"""The key store. It refers to tenants by id only (no foreign key): it may live in its own database,
with backups kept shorter than the data's (docs/encryption.md)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

OPERATOR = "operator"  # owner of keys that belong to no tenant (staff TOTP seeds, shared apps)
MAX_KEY_ID = 2**32 - 1  # key ids travel in the envelope as an unsigned 32-bit number


class KeyState(models.TextChoices):
    ACTIVE = "active", "Active"
    DECRYPT_ONLY = "decrypt_only", "Decrypt only"
    PENDING_DESTROY = "pending_destroy", "Destruction scheduled"
    DESTROYED = "destroyed", "Destroyed"


class Purpose(models.TextChoices):
    CONTENT = "content", "Message content (day bucket)"
    RAW = "raw", "Raw deliveries (day bucket)"
    SUBJECT = "subject", "Data subject (one contact)"
    HOLD = "hold", "Legal hold"
    SECRET = "secret", "Credentials and secrets"
    BLIND_INDEX = "blind_index", "Blind index"


# Purposes whose keys are replaced by a new version and whose rows are then re-encrypted. Day-bucket
# and hold keys are never rotated: they are destroyed when their data must be gone.
ROTATING_PURPOSES = frozenset({Purpose.SUBJECT, Purpose.SECRET, Purpose.BLIND_INDEX})


class KeyEncryptionKey(models.Model):
    """A tenant's (or the operator's) KEK, wrapped by the root key; versioned."""

    owner = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=KeyState.choices, default=KeyState.ACTIVE)
    root_version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "version"], name="kek_unique_version"),
            models.UniqueConstraint(fields=["owner"], condition=Q(state="active"), name="kek_one_active"),
        ]

    def __str__(self) -> str:
        return f"KEK {self.owner} v{self.version} ({self.state})"


class DataKey(models.Model):
    """A data key wrapped by its owner's KEK. Its id is the ``key_id`` written into every envelope.

    Destroying it wipes ``wrapped_key`` and keeps this row as a tombstone with a receipt; the canary
    (a random value sealed under the key) proves through the production code path that it no longer opens.
    """

    owner = models.CharField(max_length=64)
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    scope = models.CharField(max_length=64, blank=True)
    version = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=16, choices=KeyState.choices, default=KeyState.ACTIVE)
    kek_version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField(null=True)
    canary = models.BinaryField()
    canary_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    destroy_after = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)
    receipt = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "purpose", "scope", "version"], name="data_key_unique_version"),
            models.UniqueConstraint(
                fields=["owner", "purpose", "scope"], condition=Q(state="active"), name="data_key_one_active"
            ),
        ]
        indexes = [models.Index(fields=["owner", "purpose", "state"])]

    def __str__(self) -> str:
        scope = f" {self.scope}" if self.scope else ""
        return f"key {self.pk}: {self.owner} {self.purpose}{scope} v{self.version} ({self.state})"
