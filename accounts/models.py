from __future__ import annotations

import hmac
import time
import uuid
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils import timezone
from django_otp.models import Device, DeviceManager
from django_otp.oath import TOTP

from accounts.backup_codes import backup_code_hash, normalize_backup_code
from core.models import BaseModel
from encryption.fields import EncryptedJSONField, EncryptedTextField
from encryption.models import Purpose
from encryption.querysets import EncryptedManager, EncryptedQuerySet


class Tenant(BaseModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("an email address is required")
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


def normalize_email(email: str) -> str:
    return email.strip().lower()


class User(AbstractBaseUser, PermissionsMixin):
    """Logs in with an email address. Staff reach the admin, always through MFA."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    AGENT = "agent", "Agent"
    AUDITOR = "auditor", "Auditor"


class Membership(BaseModel):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_per_tenant")]
        ordering = ["tenant__name", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} of {self.tenant}"


class TotpDeviceManager(DeviceManager.from_queryset(EncryptedQuerySet)):  # type: ignore[misc]
    pass


class TotpDevice(Device):
    """RFC 6238 authenticator. ``last_t`` refuses a code's reuse; the hex seed is encrypted at rest
    under the operator's secret keys, bound to this row by ``uid`` (known before insert)."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key = EncryptedTextField(purpose=Purpose.SECRET, tenant_attribute=None, row_id_attribute="uid")
    step = models.PositiveSmallIntegerField(default=30)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)

    objects = TotpDeviceManager()

    class Meta:
        verbose_name = "TOTP device"
        base_manager_name = "objects"

    def verify_token(self, token: Any) -> bool:
        """Accept a code once (``t`` must exceed ``last_t``); callers hold the row lock."""
        token = str(token)
        if not (token.isdigit() and len(token) == self.digits):
            return False
        totp = TOTP(bytes.fromhex(self.key), self.step, 0, self.digits, self.drift)
        totp.time = time.time()
        if not totp.verify(int(token), self.tolerance, self.last_t + 1):
            return False
        self.last_t = totp.t()
        self.save(update_fields=["last_t"])
        return True


class BackupCodeDevice(Device):
    """A set of single-use recovery codes stored as salted hashes (never in plaintext)."""

    salt = models.CharField(max_length=64)

    class Meta:
        verbose_name = "backup code set"

    def verify_token(self, token: Any) -> bool:
        """Match a code against the unused hashes and spend it with a conditional update (single use)."""
        candidate = backup_code_hash(self.salt, normalize_backup_code(str(token)))
        for code in self.codes.filter(used_at__isnull=True):
            if hmac.compare_digest(code.code_hash, candidate):
                return BackupCode.objects.filter(pk=code.pk, used_at__isnull=True).update(used_at=timezone.now()) == 1
        return False


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=128)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"backup code {self.pk} ({'used' if self.used_at else 'unused'})"


class ApiScope(models.TextChoices):
    MESSAGES_SEND = "messages:send", "Send messages"
    MESSAGES_READ = "messages:read", "Read messages"
    CONTACTS_READ = "contacts:read", "Read contacts"
    CONTACTS_ERASE = "contacts:erase", "Erase contacts"
    POLICIES_READ = "policies:read", "Read policies"
    KEYS_READ = "keys:read", "Read API key metadata"
    EVENTS_MANAGE = "events:manage", "Manage event endpoints, replays and the delivery log"
    EVENTS_READ = "events:read", "Read the event feed"
    TEMPLATES_MANAGE = "templates:manage", "Create, delete and sync WhatsApp message templates"
    REPORTS_READ = "reports:read", "Issue transparency reports of the tenant"
    CONTACTS_EXPORT = "contacts:export", "Export contacts (subject access)"


class ApiKey(BaseModel):
    """An API key for agents and business systems. Only ``key_id`` and a keyed hash are stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=200)
    environment = models.CharField(max_length=8)
    key_id = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    rate_limits = models.JSONField(
        default=dict, blank=True, help_text='This key\'s own rates by class, e.g. {"exports": "5/3600"}.'
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def prefix(self) -> str:
        return f"gw_{self.environment}_{self.key_id}"

    def is_usable(self, now: Any) -> bool:
        return self.revoked_at is None and self.expires_at > now


class OneTimeSecret(models.Model):
    """A secret a POST just made, waiting for the one GET that shows it (``accounts.shown_once``): sealed under
    the operator's secret keys, bound to this row, deleted when shown, useless after ``expires_at``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=32)
    payload = EncryptedJSONField(purpose=Purpose.SECRET, tenant_attribute=None)
    expires_at = models.DateTimeField(db_index=True)

    objects: ClassVar[models.Manager[OneTimeSecret]] = EncryptedManager()

    class Meta:
        base_manager_name = "objects"

    def __str__(self) -> str:
        return f"{self.purpose} for {self.user_id} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class UserSession(AbstractBaseSession):
    """A session (accounts.sessions, the session engine) with its user's id, so that disabling a user can end
    every session of theirs with one indexed query. Not a foreign key: a session may outlive its user's row."""

    user_id = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta(AbstractBaseSession.Meta):
        verbose_name = "session"

    @classmethod
    def get_session_store_class(cls) -> type[Any]:
        from accounts.sessions import SessionStore  # the store imports this module

        return SessionStore
