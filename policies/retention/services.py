"""Retention policy changes: validated in one place, saved, and audited with the values before and after.

A change applies to data written from then on (expiry is stamped at write time) and to the expiry that a
delivery or a read recomputes afterwards; every process sees it within ``messaging.lifetimes.CACHE_SECONDS``.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import IntegrityError, transaction

from accounts.actors import Actor
from accounts.models import Tenant
from audit.models import AuditAction
from audit.services import DetailValue, audit_record
from messaging.lifetimes import lifetimes_cache_clear
from messaging.models import Channel
from policies.models import RetentionPolicy
from policies.retention.selectors import retention_policy_in_force
from policies.retention.validation import (
    POLICY_FIELDS,
    PolicyValues,
    RetentionPolicyInvalidError,
    policy_values_check,
    policy_values_merge,
)


def retention_policy_update(
    *, tenant: Tenant, channel: Channel | None = None, actor: Actor, values: Mapping[str, object]
) -> RetentionPolicy:
    """Set some or all of the tenant's policy values (or a channel's override of them: created from the tenant's
    policy in force). Raises ``RetentionPolicyInvalidError`` naming each offending field, having changed nothing.
    One audit event holds the changed values before and after; a change to nothing writes nothing."""
    if channel is not None and channel.tenant_id != tenant.pk:
        raise RetentionPolicyInvalidError({"channel": "This channel belongs to another tenant."})
    with transaction.atomic():
        policy = _locked(tenant, channel)
        before = PolicyValues.of(policy) if policy else retention_policy_in_force(tenant_id=tenant.pk).values
        after = policy_values_merge(before, values)
        policy_values_check(after)
        if policy is not None and after == before:
            return policy
        created = policy is None
        policy = _save(policy or RetentionPolicy(tenant=tenant, channel=channel), after)
        _audit(policy, actor=actor, before=before, after=after, created=created)
        transaction.on_commit(lifetimes_cache_clear)
    return policy


def retention_policy_override_delete(*, tenant: Tenant, channel: Channel, actor: Actor) -> bool:
    """Remove a channel's override: the tenant's policy applies to it again. Audited; False if there was none."""
    with transaction.atomic():
        policy = _locked(tenant, channel)
        if policy is None:
            return False
        before = PolicyValues.of(policy)
        after = retention_policy_in_force(tenant_id=tenant.pk).values
        policy.delete()
        _audit(policy, actor=actor, before=before, after=after, created=False, deleted=True)
        transaction.on_commit(lifetimes_cache_clear)
    return True


def _locked(tenant: Tenant, channel: Channel | None) -> RetentionPolicy | None:
    rows = RetentionPolicy.objects.select_for_update().filter(tenant=tenant)
    found: RetentionPolicy | None = (
        rows.filter(channel=channel) if channel else rows.filter(channel__isnull=True)
    ).first()
    return found


def _save(policy: RetentionPolicy, values: PolicyValues) -> RetentionPolicy:
    for name, value in values.as_dict().items():
        setattr(policy, name, value)
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:  # another change created this row first: refuse rather than overwrite it unseen
        raise RetentionPolicyInvalidError(
            {"channel" if policy.channel_id else "tenant": "Changed concurrently; reload and try again."}
        ) from None
    return policy


def _audit(
    policy: RetentionPolicy,
    *,
    actor: Actor,
    before: PolicyValues,
    after: PolicyValues,
    created: bool,
    deleted: bool = False,
) -> None:
    details: dict[str, DetailValue] = {
        "scope": "channel" if policy.channel_id else "tenant",
        "channel_id": str(policy.channel_id) if policy.channel_id else None,
        "created": created,
        "deleted": deleted,
    }
    for name in POLICY_FIELDS:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            details[f"{name}.before"], details[f"{name}.after"] = old, new
    audit_record(
        action=AuditAction.POLICY_CHANGED,
        tenant_id=policy.tenant_id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        ip=actor.ip,
        target_type="retention_policy",
        target_id=str(policy.pk),
        details=details,
    )
