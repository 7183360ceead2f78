"""Registering Meta apps and channels and changing their credentials; credential changes are audited (never
the credentials themselves)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Tenant
from audit.models import AuditAction
from audit.services import audit_record
from messaging.alerts import channel_token_alerts_resolve
from messaging.errors import MessagingError
from messaging.models import Channel, MetaApp, Platform

MIN_SECRET_LENGTH = 12
VERIFY_TOKEN_BYTES = 24


@dataclass(frozen=True)
class RegisteredApp:
    meta_app: MetaApp
    verify_token: str  # shown once, to paste into Meta's dashboard


def _audit(action: str, *, actor: Actor, tenant: Tenant | None, target: MetaApp | Channel, **details: str) -> None:
    audit_record(
        action=action,
        tenant_id=tenant.pk if tenant else None,
        actor_id=actor.user_id,
        actor_label=actor.label,
        ip=actor.ip,
        target_type=type(target).__name__.lower(),
        target_id=str(target.pk),
        details=details,
    )


def _clean_secret(value: str, what: str) -> str:
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        raise MessagingError(f"the {what} looks wrong: at least {MIN_SECRET_LENGTH} characters expected")
    return value


def meta_app_register(
    *, tenant: Tenant | None, name: str, app_secret: str, actor: Actor, meta_app_id: str = ""
) -> RegisteredApp:
    """A Meta app owned by ``tenant`` (None: shared by the operator), with a generated verify token."""
    if not name.strip():
        raise MessagingError("a Meta app needs a name")
    verify_token = secrets.token_urlsafe(VERIFY_TOKEN_BYTES)
    with transaction.atomic():
        app = MetaApp(
            tenant=tenant,
            name=name.strip(),
            meta_app_id=meta_app_id.strip(),
            app_secret=_clean_secret(app_secret, "app secret"),
            verify_token=verify_token,
        )
        app.save()
        _audit(AuditAction.META_APP_CREATED, actor=actor, tenant=tenant, target=app, app_key=app.app_key)
    return RegisteredApp(app, verify_token)


def meta_app_rotate_secret(*, meta_app: MetaApp, new_secret: str, overlap: timedelta, actor: Actor) -> MetaApp:
    """The new secret signs from now on; the old one is still honoured for ``overlap``."""
    with transaction.atomic():
        meta_app.previous_app_secret = meta_app.app_secret
        meta_app.previous_secret_valid_until = timezone.now() + overlap
        meta_app.app_secret = _clean_secret(new_secret, "app secret")
        meta_app.save()
        _audit(
            AuditAction.META_APP_SECRET_ROTATED,
            actor=actor,
            tenant=meta_app.tenant,
            target=meta_app,
            previous_valid_until=meta_app.previous_secret_valid_until.isoformat(),
        )
    return meta_app


def channel_add(
    *,
    tenant: Tenant,
    meta_app: MetaApp,
    platform: str,
    provider_id: str,
    access_token: str,
    actor: Actor,
    display_name: str = "",
    waba_id: str = "",
) -> Channel:
    """A channel reached through ``meta_app``; a tenant's own app can only carry that tenant's channels.

    ``waba_id`` is the WhatsApp Business Account of a WhatsApp number (digits); other platforms have none.
    """
    if platform not in Platform.values:
        raise MessagingError(f"unknown platform {platform!r}; choose one of {', '.join(Platform.values)}")
    if meta_app.tenant_id is not None and meta_app.tenant_id != tenant.pk:
        raise MessagingError("this Meta app belongs to another tenant")
    provider_id = provider_id.strip()
    if not provider_id.isdigit():
        raise MessagingError("the provider id (phone_number_id, page id or Instagram id) is a number")
    waba_id = _waba_id_checked(waba_id, platform=platform)
    with transaction.atomic():
        if Channel.objects.filter(platform=platform, provider_id=provider_id).exists():
            raise MessagingError(f"a {platform} channel with id {provider_id} already exists")
        if waba_id and Channel.objects.filter(meta_app=meta_app, waba_id=waba_id).exclude(tenant=tenant).exists():
            # Its account webhooks could reach neither tenant (docs/whatsapp-accounts.md): refused up front.
            raise MessagingError("this WhatsApp Business Account is another tenant's on this Meta app")
        channel = Channel(
            tenant=tenant,
            meta_app=meta_app,
            platform=platform,
            provider_id=provider_id,
            display_name=display_name.strip(),
            waba_id=waba_id,
            access_token=_clean_secret(access_token, "access token"),
        )
        channel.save()
        _audit(
            AuditAction.CHANNEL_CREATED,
            actor=actor,
            tenant=tenant,
            target=channel,
            platform=platform,
            provider_id=provider_id,
            waba_id=waba_id,
        )
    return channel


def _waba_id_checked(waba_id: str, *, platform: str) -> str:
    waba_id = waba_id.strip()
    if waba_id and platform != Platform.WHATSAPP:
        raise MessagingError("only a WhatsApp channel belongs to a WhatsApp Business Account")
    if waba_id and not waba_id.isdigit():
        raise MessagingError("the WhatsApp Business Account id is a number")
    return waba_id


def credential_checked(value: str, *, what: str) -> str:
    """The value a service would store for a secret (stripped), or MessagingError: forms validate with it."""
    return _clean_secret(value, what)


def meta_app_set_verify_token(*, meta_app: MetaApp, verify_token: str, actor: Actor) -> MetaApp:
    """Replace the token Meta echoes in the subscription handshake; the dashboard must be given the same."""
    with transaction.atomic():
        meta_app.verify_token = _clean_secret(verify_token, "verify token")
        meta_app.save()
        _audit(AuditAction.META_APP_VERIFY_TOKEN_CHANGED, actor=actor, tenant=meta_app.tenant, target=meta_app)
    return meta_app


def channel_set_access_token(*, channel: Channel, access_token: str, actor: Actor) -> Channel:
    """Replace the Graph token the channel sends with (a new system-user token, or a rotated one)."""
    with transaction.atomic():
        channel.access_token = _clean_secret(access_token, "access token")
        channel.save()
        channel_token_alerts_resolve(channel=channel)
        _audit(AuditAction.CHANNEL_TOKEN_CHANGED, actor=actor, tenant=channel.tenant, target=channel)
    return channel
