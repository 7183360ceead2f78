"""Retention in force and the next purge, key summaries, and the latest security alerts."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min, Q

from accounts.admin_scope import Area
from accounts.models import ApiKey, Tenant
from audit.alerts.selectors import security_alerts_latest
from console.dashboard_scope import DashboardScope, table
from encryption.models import ROTATING_PURPOSES, DataKey, KeyEncryptionKey, KeyState, Purpose
from policies.models import PurgeRun, RetentionPolicy
from policies.retention.selectors import PolicySource
from policies.retention.validation import PolicyValues, policy_defaults
from policies.task_names import PERIODIC, PURGE_TASK

LISTED_TENANTS = 20


def retention_section(scope: DashboardScope, *, now: datetime) -> dict[str, Any]:
    """Each tenant's policy in force (its own or the defaults) and when beat runs the purge next."""
    if not scope.sees(Area.POLICIES):
        return {"visible": False}
    tenants = list(scope.filter(Tenant.objects.filter(is_active=True), Area.POLICIES, "pk")[:LISTED_TENANTS])
    policies = {
        policy.tenant_id: policy for policy in RetentionPolicy.objects.filter(tenant__in=tenants, channel__isnull=True)
    }
    rows = [_policy_row(tenant, policies.get(tenant.pk)) for tenant in tenants]
    headers = ["Tenant", "Policy", "Content (max days)", "Metadata (days)", "Raw deliveries (days)", "Audit (days)"]
    return {"visible": True, "table": table(headers, rows), **_next_purge(now)}


def keys_section(scope: DashboardScope, *, now: datetime) -> dict[str, Any]:
    """Encryption keys by state (subject keys, one per contact, are not counted), the next scheduled key
    destruction, the oldest active rotating key, and API keys active, expired and revoked."""
    if not scope.sees(Area.POLICIES) and not scope.sees(Area.API_KEYS):
        return {"visible": False}
    section: dict[str, Any] = {"visible": True}
    if scope.sees(Area.POLICIES):
        section.update(_encryption_keys(_owners(scope.tenant_ids(Area.POLICIES))))
    if scope.sees(Area.API_KEYS):
        section["api_keys"] = scope.filter(ApiKey.objects.all(), Area.API_KEYS).aggregate(
            active=Count("pk", filter=Q(revoked_at__isnull=True, expires_at__gt=now)),
            expired=Count("pk", filter=Q(revoked_at__isnull=True, expires_at__lte=now)),
            revoked=Count("pk", filter=Q(revoked_at__isnull=False)),
        )
    return section


SECURITY_ALERTS_LISTED = 10
SECURITY_ALERT_HEADERS = ["When", "Alert", "Tenant"]


def _security_alerts(tenant_ids: list[uuid.UUID] | None) -> list[list[Any]]:
    """The latest ``SECURITY_ALERTS_LISTED`` security alerts of these tenants (None: every tenant), one row per
    alert in the order of ``SECURITY_ALERT_HEADERS``.

    Operator-wide alerts carry no tenant: they show as "operator" (only operators see them).
    """
    alerts = security_alerts_latest(tenant_ids=tenant_ids, limit=SECURITY_ALERTS_LISTED)
    names = dict(Tenant.objects.filter(pk__in={a.tenant_id for a in alerts if a.tenant_id}).values_list("pk", "name"))
    return [
        [
            f"{alert.last_seen:%Y-%m-%d %H:%M}",
            f"{alert.get_severity_display()}: {alert.title} ({alert.get_status_display().lower()})",
            names.get(alert.tenant_id, "—") if alert.tenant_id else "operator",
        ]
        for alert in alerts
    ]


def security_section(scope: DashboardScope) -> dict[str, Any]:
    if not scope.sees(Area.SECURITY):
        return {"visible": False}
    alerts = _security_alerts(scope.tenant_ids(Area.SECURITY))
    return {"visible": True, "table": table(SECURITY_ALERT_HEADERS, alerts)}


def _policy_row(tenant: Tenant, policy: RetentionPolicy | None) -> list[Any]:
    values = policy_defaults() if policy is None else PolicyValues.of(policy).in_force()
    source = PolicySource.DEFAULT if policy is None else PolicySource.TENANT
    return [tenant.name, source.value, values.content_max_days, values.metadata_days, values.raw_delivery_days,
            values.audit_days]  # fmt: skip


def _next_purge(now: datetime) -> dict[str, Any]:
    every = _beat_seconds(PURGE_TASK)
    last = PurgeRun.objects.filter(dry_run=False).order_by("-started_at").values_list("started_at", flat=True).first()
    next_at = None if every is None else max(now, (last or now) + timedelta(seconds=every))
    return {"purge_every": every, "last_purge": last, "next_purge": next_at}


def _beat_seconds(task: str) -> float | None:
    """How often beat publishes ``task``, as the policies app declares it (None: not scheduled)."""
    return next((periodic.every for periodic in PERIODIC if periodic.task == task), None)


def _owners(tenant_ids: list[uuid.UUID] | None) -> list[str] | None:
    return None if tenant_ids is None else [str(tenant_id) for tenant_id in tenant_ids]


def _encryption_keys(owners: list[str] | None) -> dict[str, Any]:
    data_keys = DataKey.objects.exclude(purpose=Purpose.SUBJECT)
    keks = KeyEncryptionKey.objects.all()
    if owners is not None:
        data_keys, keks = data_keys.filter(owner__in=owners), keks.filter(owner__in=owners)
    by_state = dict(data_keys.values_list("state").annotate(total=Count("pk")).order_by())
    states = [[label, by_state.get(state, 0)] for state, label in KeyState.choices]
    rotating = data_keys.filter(state=KeyState.ACTIVE, purpose__in=ROTATING_PURPOSES)
    return {
        "data_keys": table(["State", "Data keys"], states),
        "kek_active": keks.filter(state=KeyState.ACTIVE).count(),
        "next_destruction": data_keys.filter(state=KeyState.PENDING_DESTROY).aggregate(at=Min("destroy_after"))["at"],
        "oldest_rotating": rotating.aggregate(at=Min("created_at"))["at"],
    }
