"""Meta apps and channels. Secrets are encrypted fields: written by the services, never shown back."""

from __future__ import annotations

import secrets
import string
from datetime import datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.models import Tenant
from core.models import BaseModel, time_ordered_uuid
from encryption.blind_index import BlindIndexField
from encryption.fields import EncryptedJSONField, EncryptedManager, EncryptedTextField
from encryption.models import Purpose
from messaging.providers.adapter import Platform as ProviderPlatform
from messaging.providers.sending import AUTHOR_HUMAN, AUTHOR_SYSTEM

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


HOLD_SCOPE_PREFIX = "hold:"


def hold_scope(hold_id: object) -> str:
    """The content key scope of a legal hold: its content is sealed under a key of the hold, not of a day."""
    return f"{HOLD_SCOPE_PREFIX}{hold_id}"


def content_day_bucket(row: Message | ParkedStatus | MediaAttachment) -> str:
    """The day after the one by which this content must be gone at the latest: received + the maximum content
    lifetime of the policy in force when it was written (``content_key_day``), else of the installation.
    Content under a legal hold (``hold_id``) is sealed under the hold's key instead (policies.holds)."""
    hold_id = getattr(row, "hold_id", None)
    if hold_id is not None:
        return hold_scope(hold_id)
    last_day = getattr(row, "content_key_day", None) or (
        row.received_at.date() + timedelta(days=settings.GATEWAY_CONTENT_MAX_DAYS)
    )
    return (last_day + timedelta(days=1)).isoformat()


def content_is_expired(message: Message) -> bool:
    """Read-time retention: content purged, or past its expiry and under no legal hold, is never served."""
    if message.content_purged_at is not None:
        return True
    expires_at = message.content_expires_at
    return message.hold_id is None and expires_at is not None and expires_at <= timezone.now()


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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "contact"], name="conversation_unique_channel_contact"),
        ]

    def __str__(self) -> str:
        return f"conversation {self.pk}"


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
    message_type = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    is_flagged = models.BooleanField(default=False, help_text="An unknown type, kept raw.")
    is_sent_elsewhere = models.BooleanField(default=False, help_text="An echo of a message sent outside the gateway.")
    received_at = models.DateTimeField()
    provider_timestamp = models.DateTimeField()
    provider_message_id = EncryptedTextField(
        purpose=Purpose.CONTENT, scope=content_day_bucket, null=True, help_text="None until Meta accepts a send."
    )
    provider_message_index = BlindIndexField(source="provider_message_id", normalizer="opaque", null=True)
    content = EncryptedJSONField(
        purpose=Purpose.CONTENT, scope=content_day_bucket, null=True, expired=content_is_expired
    )
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


class ChannelEvent(BaseModel):
    """Template status, quality rating, account alerts: channel-level news from Meta (no customer content)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="events")
    field = models.CharField(max_length=64)
    payload = models.JSONField()
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of field and payload: redeliveries match")
    received_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "fingerprint"], name="channel_event_unique")]

    def __str__(self) -> str:
        return f"{self.field} on {self.channel_id}"


def raw_day_bucket(row: QuarantinedItem) -> str:
    return (row.received_at.date() + timedelta(days=settings.GATEWAY_RAW_DELIVERY_DAYS + 1)).isoformat()


class QuarantinedItem(BaseModel):
    """A webhook item no channel of its app claims (or that could not be read): kept, never applied.

    ``tenant_id`` is the app owner's (None for a shared app): the item stays under the keys it arrived with.
    """

    meta_app = models.ForeignKey(MetaApp, on_delete=models.PROTECT, related_name="quarantined_items")
    tenant_id = models.UUIDField(null=True, blank=True)
    delivery_id = models.UUIDField()
    item_path = models.CharField(max_length=128, help_text="Where the item sat in the delivery, e.g. entry[0]…")
    received_at = models.DateTimeField()
    platform = models.CharField(max_length=16, blank=True)
    routing_id = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=64)
    payload = EncryptedJSONField(purpose=Purpose.RAW, scope=raw_day_bucket)
    replayed_at = models.DateTimeField(null=True, blank=True, help_text="When a replay applied the item.")
    replay_outcome = models.CharField(max_length=32, blank=True, help_text="What the replay did: stored, status…")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Kept no longer than raw deliveries.")

    objects: ClassVar[models.Manager[QuarantinedItem]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"
        constraints = [models.UniqueConstraint(fields=["delivery_id", "item_path"], name="quarantine_unique_item")]
        indexes = [models.Index(fields=["expires_at"], name="quarantine_due")]

    def __str__(self) -> str:
        return f"quarantined {self.reason} {self.routing_id}"


class MediaStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STORED = "stored", "Stored"
    FAILED = "failed", "Failed"


class MediaAttachment(BaseModel):
    """A media file of a message, fetched by the ``media`` queue and kept sealed (messaging.media).

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


# --- outbound: outbox, attempts, idempotency, alerts ------------------------------------------------------


class OutboxEntry(models.Model):
    """Written in the same transaction as a queued message; the dispatcher is published from here after commit,
    and a beat relay publishes again any entry due but never (or long ago) published."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, primary_key=True, related_name="outbox")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    available_at = models.DateTimeField(help_text="Not published before this time (scheduled sends, backoff).")
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["available_at", "published_at"], name="outbox_due")]
        verbose_name_plural = "outbox entries"

    def __str__(self) -> str:
        return f"outbox {self.message_id}"


class AttemptOutcome(models.TextChoices):
    PENDING = "pending", "Pending (call in progress or worker lost)"
    ACCEPTED = "accepted", "Accepted"
    THROTTLED = "throttled", "Throttled"
    TRANSIENT = "transient", "Transient failure"
    PERMANENT = "permanent", "Permanent failure"
    CHANNEL = "channel", "Channel-level failure"
    UNKNOWN = "unknown", "Unknown outcome"


class SendAttempt(models.Model):
    """One Graph call for one message, recorded before the call: a crash leaves a ``pending`` row behind.
    Holds codes and timings only, never the body, the token or Meta's free-text message."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempts")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.PENDING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=200, blank=True)
    fbtrace_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "number"], name="send_attempt_unique_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id}: {self.outcome}"


IDEMPOTENCY_WINDOW = timedelta(hours=24)  # a send's Idempotency-Key is honoured at least this long, then purged


class IdempotencyRecord(BaseModel):
    """``Idempotency-Key`` of a send: the same key and body get the first response again; another body, 409.
    Kept ``IDEMPOTENCY_WINDOW``, then deleted by the retention purge (its request hash covers the recipient)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=255)
    request_sha256 = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(help_text="Ids and statuses only: never message content.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_unique_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_due")]

    def __str__(self) -> str:
        return f"idempotency {self.key[:16]}"


class ChannelAlert(BaseModel):
    """A channel-level send error (token expired, account blocked or locked) that paused the channel."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="alerts")
    error_code = models.IntegerField()
    error_title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"alert {self.error_code} on {self.channel_id}"
