"""Writes for tenants, users and memberships; each security-relevant change writes one audit event."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import transaction

from accounts.actors import Actor
from accounts.apikeys import api_key_revoke
from accounts.models import ApiKey, BackupCodeDevice, Membership, Role, Tenant, TotpDevice, User, normalize_email
from accounts.sessions import sessions_end_for_user
from audit.models import AuditAction
from audit.services import audit_record


class AccountsError(ValueError):
    """Bad input for an account operation, with a message fit to show the person who gave it."""


def _audit(action: str, *, actor: Actor, tenant: Tenant | None, target: object, **details: str | bool | int) -> None:
    audit_record(
        action=action,
        tenant_id=tenant.pk if tenant else None,
        actor_id=actor.user_id,
        actor_label=actor.label,
        target_type=type(target).__name__.lower(),
        target_id=str(getattr(target, "pk", "")),
        ip=actor.ip,
        details=details,
    )


def tenant_create(*, name: str, slug: str, actor: Actor) -> Tenant:
    name, slug = name.strip(), slug.strip().lower()
    if not name:
        raise AccountsError("a tenant needs a name")
    try:
        validate_slug(slug)
    except ValidationError:
        raise AccountsError(f"{slug!r} is not a valid slug (letters, digits, - and _)") from None
    with transaction.atomic():
        if Tenant.objects.filter(slug=slug).exists():
            raise AccountsError(f"a tenant with slug {slug!r} already exists")
        tenant = Tenant.objects.create(name=name, slug=slug)
        _audit(AuditAction.TENANT_CREATED, actor=actor, tenant=tenant, target=tenant, slug=slug)
    return tenant


def user_create(
    *,
    email: str,
    password: str | None,
    actor: Actor,
    full_name: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    """Create a login. ``password=None`` leaves it unusable (set later); otherwise it must pass the validators."""
    email = normalize_email(email)
    try:
        validate_email(email)
    except ValidationError:
        raise AccountsError(f"{email!r} is not a valid email address") from None
    if password is not None:
        try:
            validate_password(password, User(email=email, full_name=full_name))
        except ValidationError as error:
            raise AccountsError(" ".join(error.messages)) from None
    with transaction.atomic():
        if User.objects.filter(email=email).exists():
            raise AccountsError(f"a user with email {email!r} already exists")
        user = User.objects.create_user(
            email, password, full_name=full_name, is_staff=is_staff or is_superuser, is_superuser=is_superuser
        )
        _audit(
            AuditAction.USER_CREATED,
            actor=actor,
            tenant=None,
            target=user,
            is_staff=user.is_staff,
            is_superuser=is_superuser,
        )
    return user


def user_disable(*, user: User, actor: Actor) -> int:
    """Disable a login at once, the one way every path does it (the admin's form included): the user can no longer
    log in, every session of theirs is deleted on the server (their next request is anonymous) and every API key
    they created is revoked (each audited). Audited once per call; calling it again ends what is left. Returns how
    many keys it revoked."""
    revoked_by = User.objects.filter(pk=actor.user_id).first() if actor.user_id else None
    with transaction.atomic():
        was_active = User.objects.filter(pk=user.pk, is_active=True).update(is_active=False) == 1
        user.is_active = False
        sessions = sessions_end_for_user(user_id=user.pk)
        keys = list(ApiKey.objects.filter(created_by=user, revoked_at__isnull=True).order_by("created_at"))
        for api_key in keys:
            api_key_revoke(api_key=api_key, revoked_by=revoked_by, ip=actor.ip, actor_label=actor.label)
        _audit(
            AuditAction.USER_DISABLED,
            actor=actor,
            tenant=None,
            target=user,
            was_active=was_active,
            sessions_ended=sessions,
            api_keys_revoked=len(keys),
        )
    return len(keys)


def membership_set(*, tenant: Tenant, user: User, role: str, actor: Actor) -> Membership:
    """Give ``user`` ``role`` in ``tenant``: creates the membership or changes its role (audited once)."""
    if role not in Role.values:
        raise AccountsError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(tenant=tenant, user=user).first()
        if membership is None:
            membership = Membership.objects.create(tenant=tenant, user=user, role=role)
            _audit(
                AuditAction.MEMBERSHIP_CREATED,
                actor=actor,
                tenant=tenant,
                target=membership,
                user_id=str(user.pk),
                role=role,
            )
        elif membership.role != role:
            previous, membership.role = membership.role, role
            membership.save(update_fields=["role", "updated_at"])
            _audit(
                AuditAction.MEMBERSHIP_ROLE_CHANGED,
                actor=actor,
                tenant=tenant,
                target=membership,
                user_id=str(user.pk),
                previous_role=previous,
                role=role,
            )
    return membership


def mfa_device_remove(*, device: TotpDevice | BackupCodeDevice, actor: Actor) -> None:
    """Remove an authenticator or a backup-code set (e.g. a lost phone): the user re-enrols at next login."""
    with transaction.atomic():
        _audit(
            AuditAction.MFA_DEVICE_REMOVED,
            actor=actor,
            tenant=None,
            target=device.user,
            device=type(device).__name__,
            device_name=device.name,
        )
        device.delete()


def membership_delete(*, membership: Membership, actor: Actor) -> None:
    with transaction.atomic():
        _audit(
            AuditAction.MEMBERSHIP_DELETED,
            actor=actor,
            tenant=membership.tenant,
            target=membership,
            user_id=str(membership.user_id),
            role=membership.role,
        )
        membership.delete()
