"""The media files of messages: their status, and their source sealed under the message's day key."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from accounts.models import Tenant
from core.models import BaseModel
from encryption.fields import EncryptedTextField
from encryption.models import Purpose
from encryption.querysets import EncryptedManager
from messaging.models.content import content_day_bucket
from messaging.models.messages import Message


class MediaStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STORED = "stored", "Stored"
    FAILED = "failed", "Failed"


class MediaAttachment(BaseModel):
    """A media file of a message, fetched by the ``media`` queue and kept sealed (messaging.inbound.media_fetch).

    The source (a WhatsApp media id or a CDN URL) and the hash Meta announced are content: sealed under the
    message's day key, like the bytes themselves. ``received_at`` is the message's, so the key is the same.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    # No index of its own: media_attachment_unique_position leads with it (every index costs each insert).
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments", db_index=False)
    position = models.PositiveSmallIntegerField(help_text="Order within the message.")
    received_at = models.DateTimeField()
    kind = models.CharField(max_length=32, help_text="The platform's media kind: image, document, story_mention…")
    mime_type = models.CharField(max_length=128, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Bytes, once stored.")
    status = models.CharField(max_length=16, choices=MediaStatus.choices, default=MediaStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error_code = models.CharField(max_length=64, blank=True, help_text="Why the last attempt failed; no content.")
    storage_name = models.CharField(max_length=255, blank=True)
    stored_at = models.DateTimeField(null=True, blank=True)
    source_reference = EncryptedTextField(purpose=Purpose.CONTENT, scope=content_day_bucket)
    expected_sha256 = EncryptedTextField(purpose=Purpose.CONTENT, scope=content_day_bucket, null=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="The file is never served after this.")
    content_key_day = models.DateField(null=True, blank=True, help_text="The message's: the same day key seals both.")
    hold_id = models.UUIDField(null=True, blank=True, help_text="The legal hold whose key seals this file.")

    objects: ClassVar[models.Manager[MediaAttachment]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        constraints = [models.UniqueConstraint(fields=["message", "position"], name="media_attachment_unique_position")]
        indexes = [
            models.Index(fields=["expires_at"], name="media_attachment_due"),
            models.Index(fields=["hold_id"], name="media_attachment_held", condition=models.Q(hold_id__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.status} {self.pk}"
