"""Contacts (their identifiers and profile sealed under their own subject key) and conversations."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from accounts.models import Tenant
from core.models import BaseModel
from encryption.blind_index import BlindIndexField
from encryption.fields import EncryptedJSONField, EncryptedTextField
from encryption.models import Purpose
from encryption.querysets import EncryptedManager
from messaging.models.apps_channels import Channel, Platform


def subject_scope(contact: Contact) -> str:
    """A contact's data is sealed under its own subject key."""
    return str(contact.pk)


class Contact(BaseModel):
    """A customer of a tenant on one platform. Identifiers and profile are sealed under the contact's own
    subject key: destroying it erases this person everywhere, backups included."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="contacts")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    external_id = EncryptedTextField(purpose=Purpose.SUBJECT, scope=subject_scope)
    external_id_index = BlindIndexField(source="external_id", normalizer="opaque")
    business_user_id = EncryptedTextField(purpose=Purpose.SUBJECT, scope=subject_scope, null=True)
    business_user_id_index = BlindIndexField(source="business_user_id", normalizer="opaque", null=True)
    profile = EncryptedJSONField(purpose=Purpose.SUBJECT, scope=subject_scope, null=True)
    profile_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="The provider time of the newest message that named the profile."
    )
    changed_to = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="changed_from",
        help_text="The contact this person became when they changed their number (WhatsApp).",
    )
    is_opted_out = models.BooleanField(default=False)

    objects: ClassVar[models.Manager[Contact]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "platform", "external_id_index"], name="contact_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        return f"contact {self.pk}"


class Conversation(BaseModel):
    """The thread between a channel and a contact; ``last_inbound_at`` opens the 24-hour customer service window."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="conversations")
    # No index of its own: conversation_unique_channel_contact leads with it (every index costs each insert).
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="conversations", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    window_closing_noticed_for = models.DateTimeField(
        null=True, blank=True, help_text="The last_inbound_at whose window's closing was announced (once per window)."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "contact"], name="conversation_unique_channel_contact"),
        ]
        # The windows closing soon are found by range every minute.
        indexes = [models.Index(fields=["last_inbound_at"], name="conversation_last_inbound")]

    def __str__(self) -> str:
        return f"conversation {self.pk}"
