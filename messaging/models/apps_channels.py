"""Meta apps and channels. Secrets are encrypted fields: written by the services, never shown back."""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from typing import ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.models import Tenant
from core.models import BaseModel
from encryption.fields import EncryptedTextField
from encryption.models import Purpose
from encryption.querysets import EncryptedManager
from messaging.providers.adapter import Platform as ProviderPlatform

APP_KEY_LENGTH = 24
APP_KEY_ALPHABET = string.ascii_letters + string.digits


def new_app_key() -> str:
    """The public, non-secret id in the webhook URL (/webhooks/meta/<app_key>/): 24 letters and digits (~143 bits).

    Letters and digits only, so a key never starts with '-' and a command line never mistakes it for an option.
    """
    return "".join(secrets.choice(APP_KEY_ALPHABET) for _ in range(APP_KEY_LENGTH))


class MetaApp(BaseModel):
    """A Meta app whose webhooks the gateway receives: owned by a tenant, or by the operator and shared."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="meta_apps")
    name = models.CharField(max_length=200)
    meta_app_id = models.CharField(max_length=64, blank=True, help_text="The app's id in Meta's dashboard.")
    app_key = models.CharField(max_length=32, unique=True, default=new_app_key, editable=False)
    app_secret = EncryptedTextField(purpose=Purpose.SECRET)
    previous_app_secret = EncryptedTextField(purpose=Purpose.SECRET, null=True)
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True)
    verify_token = EncryptedTextField(purpose=Purpose.SECRET)
    is_active = models.BooleanField(default=True)

    objects: ClassVar[models.Manager[MetaApp]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        ordering = ["name"]
        verbose_name = "Meta app"

    def __str__(self) -> str:
        return self.name

    def signing_secrets(self) -> list[str]:
        return secrets_in_force(self.app_secret, self.previous_app_secret, self.previous_secret_valid_until)


def secrets_in_force(current: str, previous: str | None, previous_valid_until: datetime | None) -> list[str]:
    """The current secret, and the previous one while its rotation window lasts."""
    if previous and previous_valid_until and previous_valid_until > timezone.now():
        return [current, previous]
    return [current]


class Platform(models.TextChoices):
    WHATSAPP = ProviderPlatform.WHATSAPP.value, "WhatsApp"
    MESSENGER = ProviderPlatform.MESSENGER.value, "Messenger"
    INSTAGRAM = ProviderPlatform.INSTAGRAM.value, "Instagram"


COEXISTENCE_MPS = 20


class ChannelStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class Channel(BaseModel):
    """One WhatsApp number, Facebook page or Instagram account of a tenant, reached through one Meta app."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="channels")
    meta_app = models.ForeignKey(MetaApp, on_delete=models.PROTECT, related_name="channels")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    provider_id = models.CharField(max_length=64, help_text="phone_number_id, page id or Instagram account id")
    display_name = models.CharField(max_length=200, blank=True)
    waba_id = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="WhatsApp only: the WhatsApp Business Account of the number (account webhooks, templates).",
    )
    access_token = EncryptedTextField(purpose=Purpose.SECRET)
    status = models.CharField(max_length=16, choices=ChannelStatus.choices, default=ChannelStatus.ACTIVE)
    paused_reason = models.CharField(max_length=200, blank=True, help_text="Why sending stopped (no content).")
    max_messages_per_second = models.PositiveIntegerField(
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Meta's throughput for this number: 80 by default, up to 1,000 once Meta raises it.",
    )
    is_coexistence = models.BooleanField(
        default=False, help_text="A number also used in the WhatsApp Business app: limited to 20 messages/s."
    )
    # What Meta says of the account (WhatsApp account webhooks): set by the webhooks, shown in the API.
    quality_rating = models.CharField(
        max_length=16, blank=True, help_text="Meta's quality rating: GREEN, YELLOW, RED, or UNKNOWN once unflagged."
    )
    messaging_limit_tier = models.CharField(
        max_length=32,
        blank=True,
        help_text="Meta's messaging limit (TIER_250 … TIER_UNLIMITED): business-initiated conversations per 24 h.",
    )
    daily_conversation_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The tier's business-initiated conversations per 24 h; empty: unlimited or unknown.",
    )
    requested_display_name = models.CharField(max_length=200, blank=True, help_text="The display name asked of Meta.")
    display_name_status = models.CharField(
        max_length=32, blank=True, help_text="Meta's decision on the requested display name (APPROVED, REJECTED…)."
    )

    objects: ClassVar[models.Manager[Channel]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "provider_id"], name="channel_unique_provider_id"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.display_name or self.provider_id}"

    @property
    def send_rate(self) -> int:
        """Messages per second the dispatcher allows, across all workers."""
        return (
            min(self.max_messages_per_second, COEXISTENCE_MPS) if self.is_coexistence else self.max_messages_per_second
        )
