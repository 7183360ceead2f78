"""TOTP and backup-code verification, enrolment and the session's step-up clock."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.util import random_hex

from accounts.backup_codes import BACKUP_CODE_LENGTH, backup_code_hash, looks_like_backup_code
from accounts.models import BackupCode, BackupCodeDevice, TotpDevice, User

BACKUP_CODE_COUNT = 10
BACKUP_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
SESSION_VERIFIED_AT = "otp_verified_at"
TOTP_KEY_BYTES = 20


def backup_codes_issue(*, user: User) -> list[str]:
    """Replace the user's backup codes with a fresh set; the plaintext is returned once, never stored."""
    codes = [
        "".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))
        for _ in range(BACKUP_CODE_COUNT)
    ]
    with transaction.atomic():
        BackupCodeDevice.objects.filter(user=user).delete()
        device = BackupCodeDevice.objects.create(user=user, name="Backup codes", salt=secrets.token_hex(16))
        BackupCode.objects.bulk_create(
            BackupCode(device=device, code_hash=backup_code_hash(device.salt, code)) for code in codes
        )
    return [f"{code[:4]}-{code[4:8]}-{code[8:]}" for code in codes]


def totp_device_start(*, user: User) -> TotpDevice:
    """A new unconfirmed authenticator for enrolment; earlier unconfirmed ones go, with the keys they showed."""
    with transaction.atomic():
        TotpDevice.objects.filter(user=user, confirmed=False).delete()
        device: TotpDevice = TotpDevice.objects.create(
            user=user, name="Authenticator app", confirmed=False, key=random_hex(TOTP_KEY_BYTES)
        )
    return device


def totp_device_pending(*, user: User) -> TotpDevice | None:
    """The unconfirmed authenticator being enrolled (the latest, should two starts have raced)."""
    device: TotpDevice | None = TotpDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device


def totp_secret_base32(device: TotpDevice) -> str:
    return base64.b32encode(bytes.fromhex(device.key)).decode().rstrip("=")


def totp_provisioning_uri(device: TotpDevice) -> str:
    secret = totp_secret_base32(device)
    issuer = settings.OTP_TOTP_ISSUER
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": device.digits, "period": device.step}
    )
    return f"otpauth://totp/{quote(issuer)}:{quote(device.user.email)}?{query}"


def confirmed_totp_device(user: User) -> TotpDevice | None:
    device: TotpDevice | None = TotpDevice.objects.filter(user=user, confirmed=True).first()
    return device


@dataclass(frozen=True)
class OtpMatch:
    device: TotpDevice | BackupCodeDevice
    is_backup_code: bool


def otp_match(*, user: User, token: str) -> OtpMatch | None:
    """Verify under row locks inside a transaction, so a code can never be used twice concurrently."""
    token = token.strip().replace(" ", "")
    with transaction.atomic():
        if looks_like_backup_code(token):
            backup = BackupCodeDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
            return OtpMatch(backup, True) if backup and backup.verify_token(token) else None
        for device in TotpDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if device.verify_token(token):
                return OtpMatch(device, False)
    return None


def session_mark_verified(request: HttpRequest, device: Any) -> None:
    """Log the device in, restart the step-up clock and cycle the session key."""
    otp_login(request, device)
    request.session[SESSION_VERIFIED_AT] = timezone.now().timestamp()
    request.session.cycle_key()


def session_verified_at(request: HttpRequest) -> datetime | None:
    stamp = request.session.get(SESSION_VERIFIED_AT)
    return datetime.fromtimestamp(stamp, tz=UTC) if isinstance(stamp, int | float) else None


def is_verified(user: object) -> bool:
    """Whether this request's user passed OTP (django-otp's middleware adds ``is_verified``)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def has_fresh_step_up(request: HttpRequest) -> bool:
    verified_at = session_verified_at(request)
    if verified_at is None or not is_verified(request.user):
        return False
    return (timezone.now() - verified_at).total_seconds() <= settings.STEP_UP_SECONDS


def totp_device_provision(*, user: User) -> TotpDevice:
    """A confirmed authenticator created by an operator tool (the demo bootstrap); replaces existing ones."""
    with transaction.atomic():
        TotpDevice.objects.filter(user=user).delete()
        device: TotpDevice = TotpDevice.objects.create(
            user=user, name="Authenticator app", confirmed=True, key=random_hex(TOTP_KEY_BYTES)
        )
    return device
