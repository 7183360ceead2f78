"""Models used only by the tests and benchmarks of encrypted fields."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from core.models import BaseModel
from encryption.blind_index import BlindIndexField
from encryption.fields import EncryptedBytesField, EncryptedJSONField, EncryptedTextField
from encryption.models import Purpose
from encryption.querysets import EncryptedManager


class Note(BaseModel):
    """A tenant-owned row with one encrypted field of each kind, under the tenant's content keys."""

    tenant_id = models.UUIDField()
    title = models.CharField(max_length=100, blank=True)
    body = EncryptedTextField(purpose=Purpose.CONTENT, null=True, scope="2030-01-01")
    attachment = EncryptedBytesField(purpose=Purpose.CONTENT, null=True, scope="2030-01-01")
    payload = EncryptedJSONField(purpose=Purpose.CONTENT, null=True, scope="2030-01-01")
    summary = EncryptedTextField(purpose=Purpose.SUBJECT, null=True, scope="subject-1")
    phone = EncryptedTextField(purpose=Purpose.SUBJECT, null=True, scope="subject-1")
    phone_index = BlindIndexField(source="phone", normalizer="e164", null=True)

    objects: ClassVar[models.Manager[Note]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"


class PlainNote(BaseModel):
    """The same shape in plaintext, column for column: the baseline for benchmarks."""

    tenant_id = models.UUIDField()
    title = models.CharField(max_length=100, blank=True)
    body = models.TextField(null=True)  # noqa: DJ001  (mirrors Note, where NULL means "no value")
    attachment = models.BinaryField(null=True)
    payload = models.JSONField(null=True)
    summary = models.TextField(null=True)  # noqa: DJ001  (as above)
    phone = models.TextField(null=True)  # noqa: DJ001  (as above)
    phone_index = models.BinaryField(null=True)
