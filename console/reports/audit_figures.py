"""Figures read from the tenant's audit chain (and, for logins, the operator chain where logins are recorded)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet

from accounts.models import Membership, Tenant, User
from audit.models import AuditAction, AuditEvent
from console.reports.periods import Period
from console.reports.types import (
    AccessFigures,
    HoldFigures,
    LabelCount,
    PolicyChange,
    PurgeFigures,
    RetentionFigures,
    SubjectFigures,
)
from policies.models import LegalHold
from policies.retention.selectors import active_holds, retention_policy_in_force, retention_policy_overrides

BEFORE_SUFFIX = ".before"


def tenant_events(*, tenant: Tenant, period: Period, action: str) -> QuerySet[AuditEvent]:
    """The tenant's events of one action in the period, in chain order."""
    return AuditEvent.objects.filter(
        chain=str(tenant.pk), action=action, occurred_at__gte=period.start, occurred_at__lt=period.end
    ).order_by("seq")


def retention(*, tenant: Tenant, period: Period) -> RetentionFigures:
    in_force = retention_policy_in_force(tenant_id=tenant.pk)
    changes = tenant_events(tenant=tenant, period=period, action=AuditAction.POLICY_CHANGED)
    return RetentionFigures(
        source=str(in_force.source),
        values=tuple(_setting(name, value) for name, value in in_force.values.as_dict().items()),
        channel_overrides=retention_policy_overrides(tenant=tenant).count(),
        changes=tuple(_policy_change(event) for event in changes),
    )


def _setting(name: str, value: int | bool | None) -> LabelCount:
    """A policy value as a count: a flag as 0 or 1, no limit as -1 (rendered "no limit")."""
    return LabelCount(name, -1 if value is None else int(value))


def _policy_change(event: AuditEvent) -> PolicyChange:
    fields = sorted(key.removesuffix(BEFORE_SUFFIX) for key in event.details if key.endswith(BEFORE_SUFFIX))
    if event.details.get("deleted"):
        action = "override removed"
    elif event.details.get("created"):
        action = "created"
    else:
        action = "changed"
    scope = f"{event.details.get('scope', 'tenant')} policy {action}"
    return PolicyChange(occurred_at=event.occurred_at.isoformat(), scope=scope, fields=tuple(fields))


def purges(*, tenant: Tenant, period: Period) -> PurgeFigures:
    removed: Counter[str] = Counter()
    runs = 0
    for details in _details(tenant, period, AuditAction.RETENTION_PURGED):
        runs += 1
        removed.update({kind: count for kind, count in details.items() if _is_count(count)})
    purposes = Counter(
        str(details.get("purpose", "")) for details in _details(tenant, period, AuditAction.KEY_DESTROYED)
    )
    return PurgeFigures(
        runs=runs,
        removed=_sorted_counts(removed),
        keys_destroyed=sum(purposes.values()),
        keys_destroyed_by_purpose=_sorted_counts(purposes),
    )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def subject_rights(*, tenant: Tenant, period: Period) -> SubjectFigures:
    requested = {
        event.target_id: event.occurred_at
        for event in tenant_events(tenant=tenant, period=period, action=AuditAction.SUBJECT_EXPORT_REQUESTED)
    }
    ready = _first_at(tenant, AuditAction.SUBJECT_EXPORT_READY, requested)
    failed = _first_at(tenant, AuditAction.SUBJECT_EXPORT_FAILED, requested)
    seconds = [int((ready[export] - requested[export]).total_seconds()) for export in ready]
    return SubjectFigures(
        exports_requested=len(requested),
        exports_ready=len(ready),
        exports_failed=len(failed),
        export_seconds_median=statistics.median_low(seconds) if seconds else None,
        export_seconds_max=max(seconds) if seconds else None,
        erasures=tenant_events(tenant=tenant, period=period, action=AuditAction.CONTACT_ERASED).count(),
        erasures_refused=tenant_events(
            tenant=tenant, period=period, action=AuditAction.CONTACT_ERASURE_REFUSED
        ).count(),
    )


def _first_at(tenant: Tenant, action: str, exports: Iterable[str]) -> dict[str, datetime]:
    """When each of ``exports`` first reached ``action``, whenever that was (a build may end after the period)."""
    events = AuditEvent.objects.filter(chain=str(tenant.pk), action=action, target_id__any_of=list(exports))
    first: dict[str, datetime] = {}
    for target_id, occurred_at in events.order_by("seq").values_list("target_id", "occurred_at"):
        first.setdefault(target_id, occurred_at)
    return first


def holds(*, tenant: Tenant, period: Period, now: datetime) -> HoldFigures:
    return HoldFigures(
        placed=tenant_events(tenant=tenant, period=period, action=AuditAction.LEGAL_HOLD_PLACED).count(),
        released=tenant_events(tenant=tenant, period=period, action=AuditAction.LEGAL_HOLD_RELEASED).count(),
        active_now=LegalHold.objects.filter(active_holds(now=now), tenant=tenant).count(),
    )


def reveals_by_reason(*, tenant: Tenant, period: Period) -> tuple[LabelCount, ...]:
    """Reveals of encrypted content in the admin, by the reason typed for each (as typed, trimmed)."""
    reasons = Counter(
        " ".join(str(details.get("reason", "")).split())
        for details in _details(tenant, period, AuditAction.CONTENT_REVEALED)
    )
    return _sorted_counts(reasons)


def staff_access(*, tenant: Tenant, period: Period) -> AccessFigures:
    """Logins are recorded on the operator chain (a login is not into one tenant): those of today's members of
    the tenant, and those of operators."""
    logins = AuditEvent.objects.filter(
        tenant_id=None,
        action=AuditAction.LOGIN_SUCCEEDED,
        occurred_at__gte=period.start,
        occurred_at__lt=period.end,
    )
    members = Membership.objects.filter(tenant=tenant).values("user_id")
    member_logins = logins.filter(actor_id__in=members)
    operators = User.objects.filter(is_superuser=True).values("pk")
    return AccessFigures(
        member_logins=member_logins.count(),
        members_logged_in=member_logins.order_by().values("actor_id").distinct().count(),
        operator_logins=logins.filter(actor_id__in=operators).count(),
    )


def _details(tenant: Tenant, period: Period, action: str) -> Iterable[dict[str, object]]:
    return tenant_events(tenant=tenant, period=period, action=action).values_list("details", flat=True).iterator()


def _sorted_counts(counts: Counter[str]) -> tuple[LabelCount, ...]:
    """Largest first, then by label: the same order wherever it is computed."""
    return tuple(
        LabelCount(label, count) for label, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    )
