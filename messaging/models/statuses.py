"""The statuses a message reached, and statuses parked until their message appears."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.db import models

from accounts.models import Tenant
from core.models import BaseModel
from encryption.blind_index import BlindIndexField
from encryption.fields import EncryptedTextField
from encryption.models import Purpose
from encryption.querysets import EncryptedManager
from messaging.models.apps_channels import Channel
from messaging.models.contacts import Contact
from messaging.models.content import content_day_bucket
from messaging.models.messages import Message, MessageStatus


class StatusEvent(models.Model):
    """Each status a message reached, once (Meta redelivers); errors and pricing carry no content."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="status_events")
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    provider_timestamp = models.DateTimeField()
    errors = models.JSONField(default=list, blank=True)
    pricing = models.JSONField(null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "status"], name="status_event_unique")]

    def __str__(self) -> str:
        return f"{self.status} of {self.message_id}"


PARKED_STATUS_WINDOW = timedelta(hours=24)  # a status waits this long for its message, then the purge drops it


class ParkedStatus(BaseModel):
    """A status for an outbound id not stored yet; applied when that message appears (our own sends within
    seconds; echoes of messages sent elsewhere within minutes), else deleted ``PARKED_STATUS_WINDOW`` after it
    arrived, which is shorter than any raw-delivery lifetime a policy allows."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    # No index of its own: parked_status_unique leads with it (every index costs each insert).
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="parked_statuses", db_index=False)
    received_at = models.DateTimeField()
    provider_message_id = EncryptedTextField(purpose=Purpose.CONTENT, scope=content_day_bucket)
    provider_message_index = BlindIndexField(source="provider_message_id", normalizer="opaque")
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    provider_timestamp = models.DateTimeField()
    callback_data = models.CharField(max_length=64, blank=True, help_text="biz_opaque_callback_data: our id")
    errors = models.JSONField(default=list, blank=True)
    pricing = models.JSONField(null=True, blank=True)

    objects: ClassVar[models.Manager[ParkedStatus]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_index", "status"], name="parked_status_unique"
            ),
        ]
        indexes = [models.Index(fields=["received_at"], name="parked_status_due")]

    def __str__(self) -> str:
        return f"parked {self.status} {self.pk}"


class MessageEdit(BaseModel):
    """One version of an edited message's text, its number Meta's edit count (0: the text before the first
    edit). While its message is not stored yet (``message`` None) it waits as a status does, then is applied
    when that message appears; never longer than ``PARKED_STATUS_WINDOW``. Attached, it lives as long as its
    message's content (``expires_at``), sealed the same way, and the content purge takes it with that content."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    # No index of its own: message_edit_unique leads with it (every index costs each insert).
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="message_edits", db_index=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="edits", null=True, blank=True)
    received_at = models.DateTimeField()
    provider_timestamp = models.DateTimeField(help_text="When the author made this version (provider time).")
    provider_message_id = EncryptedTextField(purpose=Purpose.CONTENT, scope=content_day_bucket)
    provider_message_index = BlindIndexField(source="provider_message_id", normalizer="opaque")
    number = models.PositiveSmallIntegerField(help_text="0: the original text; n: the text after the n-th edit.")
    text = EncryptedTextField(purpose=Purpose.CONTENT, scope=content_day_bucket, null=True)
    content_key_day = models.DateField(null=True, blank=True)
    expires_at = models.DateTimeField(help_text="Parked: when it stops waiting; attached: its message content's.")

    objects: ClassVar[models.Manager[MessageEdit]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(fields=["channel", "provider_message_index", "number"], name="message_edit_unique"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="message_edit_due")]

    def __str__(self) -> str:
        return f"edit {self.number} {self.pk}"


class ParkedReceipt(BaseModel):
    """A Messenger or Instagram watermark: every message sent to ``contact`` up to ``watermark`` was delivered
    (or read). Kept ``PARKED_STATUS_WINDOW`` after it arrived so that a message that appears later and falls
    under it (an echo, a send Meta accepts late) takes it too; one row per status, the highest watermark."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    # No index of its own: parked_receipt_unique leads with it (every index costs each insert).
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="parked_receipts", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="parked_receipts")
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    watermark = models.DateTimeField()
    provider_timestamp = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "contact", "status"], name="parked_receipt_unique"),
        ]
        indexes = [models.Index(fields=["received_at"], name="parked_receipt_due")]

    def __str__(self) -> str:
        return f"parked {self.status} watermark {self.pk}"
