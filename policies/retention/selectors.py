"""Reads for retention: which rows an active legal hold covers, and the retention policy in force."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Tenant
from messaging.lifetimes import Lifetimes
from policies.models import LegalHold, RetentionPolicy
from policies.retention.validation import PolicyValues, policy_defaults


def active_holds(*, now: datetime) -> Q:
    """Holds in force at ``now``: not released, and open-ended or not ended yet."""
    return Q(released_at__isnull=True) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))


def held_message_filter(*, now: datetime, prefix: str = "") -> Q:
    """A filter for messages (or, with ``prefix="message__"``, rows that point to a message) that an active
    legal hold covers: a hold on the whole tenant, on the message's contact, or on its conversation.
    The one definition of "held": purge, erasure and key destruction all use it."""
    scope = Q(contact__isnull=True, conversation__isnull=True)
    scope |= Q(contact_id=OuterRef(f"{prefix}contact_id"))
    scope |= Q(conversation_id=OuterRef(f"{prefix}conversation_id"))
    holds = LegalHold.objects.filter(active_holds(now=now), scope, tenant_id=OuterRef(f"{prefix}tenant_id"))
    return Q(Exists(holds))


def held_tenant_filter(*, now: datetime, tenant_field: str = "tenant_id") -> Q:
    """A filter for tenant-level rows (raw deliveries, quarantined items) whose tenant is under a tenant-wide
    active hold; ``tenant_field`` names the row's tenant id."""
    holds = LegalHold.objects.filter(
        active_holds(now=now), contact__isnull=True, conversation__isnull=True, tenant_id=OuterRef(tenant_field)
    )
    return Q(Exists(holds))


# --- retention policies in force ---------------------------------------------------------------------------


class PolicySource(StrEnum):
    CHANNEL = "channel"  # the channel's override
    TENANT = "tenant"  # the tenant's policy
    DEFAULT = "default"  # no row: the defaults


@dataclass(frozen=True, slots=True)
class PolicyInForce:
    values: PolicyValues  # within the installation's limits
    source: PolicySource
    policy: RetentionPolicy | None


def retention_policy_in_force(*, tenant_id: uuid.UUID, channel_id: uuid.UUID | None = None) -> PolicyInForce:
    """The channel's override if it has one, else the tenant's policy, else the defaults: one query."""
    scope = Q(channel__isnull=True) | Q(channel_id=channel_id) if channel_id else Q(channel__isnull=True)
    rows = {row.channel_id: row for row in RetentionPolicy.objects.filter(scope, tenant_id=tenant_id)}
    row = rows.get(channel_id) if channel_id else None
    if row is not None:
        return PolicyInForce(PolicyValues.of(row).in_force(), PolicySource.CHANNEL, row)
    return tenant_policy_in_force(tenant_policy=rows.get(None))


def tenant_policy_in_force(*, tenant_policy: RetentionPolicy | None) -> PolicyInForce:
    """What a tenant-wide policy row (or its absence: the defaults) puts in force, within the limits."""
    if tenant_policy is not None:
        return PolicyInForce(PolicyValues.of(tenant_policy).in_force(), PolicySource.TENANT, tenant_policy)
    return PolicyInForce(policy_defaults(), PolicySource.DEFAULT, None)


def tenant_policies(*, tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, RetentionPolicy]:
    """The tenant-wide policy rows of these tenants, by tenant id (a tenant without one is absent): one query."""
    rows = RetentionPolicy.objects.filter(tenant_id__in=list(tenant_ids), channel__isnull=True)
    return {row.tenant_id: row for row in rows}


def retention_policy_overrides(*, tenant: Tenant) -> QuerySet[RetentionPolicy]:
    """The tenant's per-channel overrides, oldest first."""
    return RetentionPolicy.objects.filter(tenant=tenant, channel__isnull=False).order_by("created_at", "id")


def lifetimes_of(values: PolicyValues) -> Lifetimes:
    """Policy values as messaging counts them (``messaging.lifetimes``)."""
    after_delivery = values.content_days_after_delivery
    disappearing = values.disappearing_seconds_after_read
    return Lifetimes(
        content_max=timedelta(days=values.content_max_days),
        content_after_delivery=None if after_delivery is None else timedelta(days=after_delivery),
        purge_content_on_delivery=values.purge_content_on_delivery,
        disappearing_after_read=None if disappearing is None else timedelta(seconds=disappearing),
        metadata=timedelta(days=values.metadata_days),
        raw_delivery=timedelta(days=values.raw_delivery_days),
        media=timedelta(days=values.media_days),
    )


def policy_lifetimes(tenant_id: uuid.UUID, channel_id: uuid.UUID | None) -> Lifetimes:
    """The lifetimes source messaging asks (registered in ``PoliciesConfig.ready``)."""
    return lifetimes_of(retention_policy_in_force(tenant_id=tenant_id, channel_id=channel_id).values)
