"""Retention policies, legal holds, purge records, subject exports and erasure tombstones.

Nothing here holds personal data or message content: ids, days, counts, states and labels only.
"""

from __future__ import annotations

from django.db import models

from accounts.models import Tenant
from core.models import BaseModel
from messaging.models import Channel, Contact, Conversation

DEFAULT_CONTENT_MAX_DAYS = 365
DEFAULT_METADATA_DAYS = 730
DEFAULT_RAW_DELIVERY_DAYS = 7
DEFAULT_MEDIA_DAYS = 90
DEFAULT_AUDIT_DAYS = 2555


class RetentionPolicy(BaseModel):
    """How long a tenant's data lives. One per tenant (``channel`` empty), plus optional per-channel overrides."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="retention_policies")
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, null=True, blank=True, related_name="retention_policies"
    )
    content_days_after_delivery = models.PositiveIntegerField(
        null=True, blank=True, help_text="Content goes this many days after the recipient has it. Empty: no such limit."
    )
    content_max_days = models.PositiveIntegerField(
        default=DEFAULT_CONTENT_MAX_DAYS, help_text="Content goes this many days after it was written."
    )
    purge_content_on_delivery = models.BooleanField(
        default=False, help_text="Keep only metadata once the recipient has the message."
    )
    disappearing_seconds_after_read = models.PositiveIntegerField(
        null=True, blank=True, help_text="Disappearing messages: content goes this long after it was read."
    )
    metadata_days = models.PositiveIntegerField(
        default=DEFAULT_METADATA_DAYS, help_text="Message rows (ids, times, statuses) go after this many days."
    )
    raw_delivery_days = models.PositiveIntegerField(
        default=DEFAULT_RAW_DELIVERY_DAYS, help_text="Raw webhook bodies go after this many days."
    )
    media_days = models.PositiveIntegerField(default=DEFAULT_MEDIA_DAYS, help_text="Media files go after this.")
    audit_days = models.PositiveIntegerField(default=DEFAULT_AUDIT_DAYS, help_text="Audit events go after this.")

    class Meta:
        verbose_name_plural = "retention policies"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=models.Q(channel__isnull=True), name="retention_policy_one_per_tenant"
            ),
            models.UniqueConstraint(
                fields=["tenant", "channel"],
                condition=models.Q(channel__isnull=False),
                name="retention_policy_one_per_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"retention policy of {self.tenant_id}" + (f" for channel {self.channel_id}" if self.channel_id else "")


class LegalHold(BaseModel):
    """Suspends deletion of a tenant's, a contact's or a conversation's data; its content is re-keyed under
    the hold's own key, so destroying day keys never has to wait for it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="legal_holds")
    # No database constraint: a released hold keeps naming a contact (or conversation) erased since, like the
    # erasure tombstone does; an active hold refuses the erasure (policies.subjects.erasure).
    contact = models.ForeignKey(
        Contact, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    case_reference = models.CharField(max_length=200)
    reason = models.TextField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Ends on its own after this; empty: open-ended.")
    placed_by = models.CharField(max_length=200, help_text="Actor label.")
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=200, blank=True)
    rekey_pending = models.BooleanField(
        default=True, help_text="Re-keying not finished: under the hold's key, or back to day keys after release."
    )

    class Meta:
        indexes = [models.Index(fields=["tenant", "released_at"], name="legal_hold_active")]

    def __str__(self) -> str:
        return f"hold {self.case_reference}"


class PurgeRun(BaseModel):
    """One purge pass (or a dry run): what it removed, per tenant and kind, in ``counts``."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    complete = models.BooleanField(default=False, help_text="False while running, or if a pass stopped early.")

    def __str__(self) -> str:
        return f"purge {self.started_at:%Y-%m-%d %H:%M:%S}"


class PurgeCount(models.Model):
    """Rows (or files, or keys) one purge run removed for one tenant and one kind."""

    run = models.ForeignKey(PurgeRun, on_delete=models.CASCADE, related_name="counts")
    tenant_id = models.UUIDField(null=True, blank=True)
    kind = models.CharField(max_length=32, help_text="content, media, raw_delivery, quarantine, metadata, audit, key…")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "tenant_id", "kind"], name="purge_count_unique")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.count}"


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class SubjectExport(BaseModel):
    """An export of everything about one contact: an encrypted archive behind an expiring download link."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="subject_exports")
    contact_id = models.UUIDField(help_text="Not a foreign key: the contact may be erased later.")
    requested_by = models.CharField(max_length=200, help_text="Actor label.")
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    storage_name = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    download_token_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the link's token.")
    expires_at = models.DateTimeField(help_text="The link and the archive go after this.")
    completed_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Builds started (a retry of one is not counted).")

    class Meta:
        constraints = [
            # One export per contact queued or being built at a time (a pending one is both).
            models.UniqueConstraint(
                fields=["tenant", "contact_id"],
                condition=models.Q(status="pending"),
                name="subject_export_one_pending_per_contact",
            )
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"


class ErasureTombstone(BaseModel):
    """What is left of an erased contact: no personal data, only that it existed, when it went, and counts."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    contact_id = models.UUIDField()
    platform = models.CharField(max_length=16)
    requested_by = models.CharField(max_length=200, help_text="Actor label.")
    erased_at = models.DateTimeField()
    counts = models.JSONField(default=dict, help_text="Rows, files and keys removed, by kind.")
    receipt_sha256 = models.CharField(max_length=64, help_text="Hash of the erasure receipt in the audit log.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "contact_id"], name="erasure_tombstone_unique")]

    def __str__(self) -> str:
        return f"erased contact {self.contact_id}"
