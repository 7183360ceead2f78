"""A user's passkeys: list, name, remove. Only the user's own rows are ever touched."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import TotpDevice, User

PASSKEY_NAME_MAX_LENGTH = 64  # django-otp's Device.name


def passkeys_of(user: User) -> QuerySet[Any]:
    passkeys: QuerySet[Any] = WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at", "pk")
    return passkeys


def has_passkey(user: User) -> bool:
    return bool(passkeys_of(user).exists())


def has_second_factor(user: User) -> bool:
    """A confirmed authenticator app or a passkey: either one is offered after the password."""
    return bool(TotpDevice.objects.filter(user=user, confirmed=True).exists()) or has_passkey(user)


def passkey_default_name(user: User) -> str:
    return f"Passkey {WebAuthnCredential.objects.filter(user=user).count()}"


def passkey_rename(*, user: User, passkey_id: int, name: str) -> bool:
    """Name one of the user's passkeys (a blank name keeps the one it has); False when the user has no such passkey."""
    passkey = WebAuthnCredential.objects.filter(user=user, pk=passkey_id)
    cleaned = " ".join(name.split())[:PASSKEY_NAME_MAX_LENGTH]
    return bool(passkey.update(name=cleaned) if cleaned else passkey.exists())


def passkey_remove(*, user: User, passkey_id: int) -> bool:
    """Delete one of the user's passkeys (its attestation goes with it); False when the user has no such passkey."""
    with transaction.atomic():
        deleted: int = WebAuthnCredential.objects.filter(user=user, pk=passkey_id).delete()[0]
    return deleted > 0
