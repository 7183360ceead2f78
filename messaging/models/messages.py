"""Messages: their direction, status and author, content sealed under a day key, and retention stamps."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from accounts.models import Tenant
from core.models import BaseModel, time_ordered_uuid
from encryption.blind_index import BlindIndexField
from encryption.fields import EncryptedJSONField, EncryptedTextField
from encryption.models import Purpose
from encryption.querysets import EncryptedManager
from messaging.models.apps_channels import Channel
from messaging.models.contacts import Contact, Conversation
from messaging.models.content import content_day_bucket, content_is_expired
from messaging.providers.sending import AUTHOR_HUMAN, AUTHOR_SYSTEM


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class MessageStatus(models.TextChoices):
    """Forward-only, in this order; ``failed`` is terminal and may follow ``sent``; ``cancelled`` is terminal.

    Outbound: ``queued`` (waiting, also while throttled or held by a paused channel) → ``sending`` (a worker
    holds the lease) → ``accepted`` by Meta, or ``unconfirmed`` when the outcome of a call is unknown.
    """

    RECEIVED = "received", "Received"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    UNCONFIRMED = "unconfirmed", "Unconfirmed"
    ACCEPTED = "accepted", "Accepted"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    PLAYED = "played", "Played"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class AuthorKind(models.TextChoices):
    """Who wrote an outbound message: Messenger's HUMAN_AGENT tag is only for replies a person wrote."""

    HUMAN = AUTHOR_HUMAN, "Human agent"
    SYSTEM = AUTHOR_SYSTEM, "System"


class Message(BaseModel):
    """One message. The provider id (a wamid embeds the customer's number) is sealed and blind-indexed."""

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    # No index of their own: (tenant, provider_timestamp) and (channel, provider_message_index) lead with them, and
    # every index costs each insert, and each content purge, another entry and its WAL.
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="messages", db_index=False)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="messages", db_index=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    message_type = models.CharField(max_length=32, help_text="The type in the platform's own words.")
    public_type = models.CharField(
        max_length=32,
        blank=True,
        help_text="The type in the public vocabulary (the same on every platform), read when the row is written. "
        "Empty only for rows written before it was stored, until `manage.py messages_public_types` fills them.",
    )
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    is_flagged = models.BooleanField(default=False, help_text="An unknown type, kept raw.")
    is_sent_elsewhere = models.BooleanField(default=False, help_text="An echo of a message sent outside the gateway.")
    is_historical = models.BooleanField(
        default=False, help_text="Imported from the past chats of the WhatsApp Business app sharing the number."
    )
    received_at = models.DateTimeField()
    provider_timestamp = models.DateTimeField()
    provider_message_id = EncryptedTextField(
        purpose=Purpose.CONTENT, scope=content_day_bucket, null=True, help_text="None until Meta accepts a send."
    )
    provider_message_index = BlindIndexField(source="provider_message_id", normalizer="opaque", null=True)
    content = EncryptedJSONField(
        purpose=Purpose.CONTENT, scope=content_day_bucket, null=True, expired=content_is_expired
    )
    edit_count = models.PositiveSmallIntegerField(default=0, help_text="How many times its author edited it.")
    edited_at = models.DateTimeField(null=True, blank=True, help_text="When its content last became an edit's.")
    # Outbound only: scheduling, the dispatcher's lease and retry budget, and why a send failed.
    author_kind = models.CharField(max_length=8, choices=AuthorKind.choices, blank=True)
    send_at = models.DateTimeField(null=True, blank=True, help_text="A scheduled send: not before this time.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0, help_text="Transient failures so far.")
    failure_code = models.IntegerField(null=True, blank=True)
    failure_title = models.CharField(max_length=200, blank=True)
    # Retention (stamped from the tenant's policy at write time; recomputed on delivery and read).
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="When the recipient got it (provider time).")
    read_at = models.DateTimeField(null=True, blank=True, help_text="When the recipient read it (provider time).")
    content_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Content is never served after this; the purge then blanks it."
    )
    content_purged_at = models.DateTimeField(null=True, blank=True)
    content_key_day = models.DateField(
        null=True, blank=True, help_text="The last day this content may live under the policy it was written under."
    )
    metadata_expires_at = models.DateTimeField(null=True, blank=True, help_text="The row itself goes after this.")
    hold_id = models.UUIDField(null=True, blank=True, help_text="The legal hold whose key seals this content.")

    objects: ClassVar[models.Manager[Message]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(fields=["channel", "provider_message_index"], name="message_unique_provider_id"),
        ]
        indexes = [
            models.Index(fields=["tenant", "provider_timestamp"]),
            # `updated_since` polling: without it a large tenant's poll scans all its messages.
            models.Index(fields=["tenant", "updated_at"], name="message_tenant_updated"),
            models.Index(fields=["status", "next_attempt_at"], name="message_dispatch_due"),
            models.Index(
                fields=["content_expires_at"],
                name="message_content_due",
                condition=models.Q(content_purged_at__isnull=True),
            ),
            models.Index(fields=["metadata_expires_at"], name="message_metadata_due"),
            models.Index(fields=["hold_id"], name="message_held", condition=models.Q(hold_id__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.message_type} {self.pk}"
