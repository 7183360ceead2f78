from __future__ import annotations

import uuid

from django.db import models

# Security alerts live in their own package; importing them here registers them with the app.
from audit.alerts.models import ApiKeyNetwork, HourlyCount, SecurityAlert, ThresholdOverride  # noqa: F401
from audit.checkpoints.models import AuditCheckpoint  # noqa: F401


class AuditAction(models.TextChoices):
    LOGIN_SUCCEEDED = "auth.login_succeeded", "Login succeeded"
    LOGIN_FAILED = "auth.login_failed", "Login failed"
    LOCKOUT = "auth.lockout", "Cool-off started"
    LOGOUT = "auth.logout", "Logout"
    MFA_ENROLLED = "mfa.enrolled", "MFA enrolled"
    MFA_VERIFIED = "mfa.verified", "OTP verified"
    STEP_UP = "mfa.step_up", "Step-up passed"
    OTP_FAILED = "mfa.otp_failed", "OTP failed"
    BACKUP_CODE_USED = "mfa.backup_code_used", "Backup code used"
    BACKUP_CODES_ISSUED = "mfa.backup_codes_issued", "Backup codes issued"
    MFA_DEVICE_REMOVED = "mfa.device_removed", "MFA device removed"
    PASSKEY_REGISTERED = "mfa.passkey_registered", "Passkey registered"
    PASSKEY_REGISTRATION_FAILED = "mfa.passkey_registration_failed", "Passkey registration refused"
    PASSKEY_REMOVED = "mfa.passkey_removed", "Passkey removed"
    TENANT_CREATED = "tenant.created", "Tenant created"
    USER_CREATED = "user.created", "User created"
    MEMBERSHIP_CREATED = "membership.created", "Membership created"
    MEMBERSHIP_ROLE_CHANGED = "membership.role_changed", "Membership role changed"
    MEMBERSHIP_DELETED = "membership.deleted", "Membership deleted"
    API_KEY_ISSUED = "api_key.issued", "API key issued"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    API_KEY_COOLOFF = "api_key.cooloff", "API key attempts cooling off (a key id or an address)"
    USER_DISABLED = "user.disabled", "User disabled (sessions ended, API keys revoked)"
    INTEGRITY_FAILURE = "audit.integrity_failure", "Audit chain verification failed"
    CONTENT_REVEALED = "encryption.content_revealed", "Encrypted content revealed in the admin"
    KEY_ROTATED = "encryption.key_rotated", "Key rotated"
    KEY_DESTROYED = "encryption.key_destroyed", "Key destroyed"
    META_APP_CREATED = "meta_app.created", "Meta app registered"
    META_APP_SECRET_ROTATED = "meta_app.secret_rotated", "Meta app secret rotated"
    CHANNEL_CREATED = "channel.created", "Channel added"
    META_APP_VERIFY_TOKEN_CHANGED = "meta_app.verify_token_changed", "Meta app verify token changed"
    CHANNEL_TOKEN_CHANGED = "channel.token_changed", "Channel access token changed"
    QUARANTINE_REPLAYED = "quarantine.replayed", "Quarantined webhook item replayed"
    DELIVERY_REQUEUED = "delivery.requeued", "Failed webhook delivery requeued"
    CHANNEL_PAUSED = "channel.paused", "Channel paused after a channel-level send error"
    CHANNEL_RESUMED = "channel.resumed", "Channel resumed"
    POLICY_CHANGED = "policy.changed", "Retention policy changed"
    RETENTION_PURGED = "retention.purged", "Retention purge removed expired data"
    LEGAL_HOLD_PLACED = "legal_hold.placed", "Legal hold placed"
    LEGAL_HOLD_RELEASED = "legal_hold.released", "Legal hold released"
    LEGAL_HOLD_REKEYED = "legal_hold.rekeyed", "Legal hold re-keying finished"
    SUBJECT_EXPORT_REQUESTED = "subject_export.requested", "Subject export requested"
    SUBJECT_EXPORT_READY = "subject_export.ready", "Subject export archive built"
    SUBJECT_EXPORT_FAILED = "subject_export.failed", "Subject export failed"
    SUBJECT_EXPORT_LINK_ISSUED = "subject_export.link_issued", "Subject export download link issued"
    SUBJECT_EXPORT_DOWNLOADED = "subject_export.downloaded", "Subject export downloaded"
    SUBJECT_EXPORTS_EXPIRED = "subject_export.expired", "Expired subject export archives deleted"
    CONTACT_ERASED = "contact.erased", "Contact erased (erasure receipt)"
    CONTACT_ERASURE_REFUSED = "contact.erasure_refused", "Contact erasure refused (legal hold)"
    EVENT_ENDPOINT_CREATED = "event_endpoint.created", "Event endpoint created"
    EVENT_ENDPOINT_CHANGED = "event_endpoint.changed", "Event endpoint changed"
    EVENT_ENDPOINT_DELETED = "event_endpoint.deleted", "Event endpoint deleted"
    EVENT_ENDPOINT_SECRET_ROTATED = "event_endpoint.secret_rotated", "Event endpoint secret rotated"
    EVENT_ENDPOINT_TESTED = "event_endpoint.tested", "Test event sent to an endpoint"
    TEMPLATE_CREATED = "template.created", "Message template submitted to Meta"
    TEMPLATE_DELETED = "template.deleted", "Message template deleted at Meta"
    TEMPLATES_SYNCED = "template.synced", "Message templates synced from Meta on request"
    EVENTS_REPLAYED = "events.replayed", "Events replayed to an endpoint"
    EVENTS_RESENT = "events.resent", "Failed event deliveries resent"
    EVENT_ENDPOINT_DISABLED = "event_endpoint.disabled", "Event endpoint disabled by delivery (gone or failing)"
    REPORT_ISSUED = "report.transparency_issued", "Transparency report issued"
    SECURITY_ALERT_RAISED = "security.alert_raised", "Security alert raised"
    SECURITY_ALERT_RESOLVED = "security.alert_resolved", "Security alert resolved"
    SECURITY_THRESHOLD_CHANGED = "security.threshold_changed", "Detection threshold override changed"
    AUDIT_PRUNED = "audit.pruned", "Audit events past their lifetime pruned behind a signed checkpoint"


OPERATOR_CHAIN = "operator"


class AuditChainHead(models.Model):
    """The last event of one chain; locking this row serialises appends to the chain."""

    chain = models.CharField(max_length=64, primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"{self.chain} @ {self.last_seq}"


class AuditEvent(models.Model):
    """Append-only, HMAC-chained per tenant (``chain`` is the tenant id, or "operator").

    ``hash = HMAC(audit key, prev_hash ‖ canonical JSON of the row)``. No message content, ever:
    ids, labels and counts only.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    tenant_id = models.UUIDField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    action = models.CharField(max_length=64)  # an AuditAction value; no DB choices, so new actions need no migration
    actor_id = models.UUIDField(null=True, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_unique_seq")]
        indexes = [models.Index(fields=["occurred_at"], name="audit_event_occurred")]  # the admin's newest first
        ordering = ["chain", "seq"]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"
