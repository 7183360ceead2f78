"""The figures of a tenant's transparency report for one period, as a frozen dataclass computed from the database.

Most figures come from the tenant's audit chain (it outlives the rows it describes); messages, data held and
webhook figures come from the rows still held. docs/transparency-reports.md says what each figure counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from accounts.models import Tenant
from audit.alerts.selectors import security_alerts_count as alerts_by_severity
from audit.alerts.selectors import signature_failures_count as app_signature_failures
from console.reports import audit_figures, data_figures
from console.reports.periods import Period
from console.reports.types import (
    AccessFigures,
    HoldFigures,
    Holding,
    LabelCount,
    MessageCount,
    PurgeFigures,
    RetentionFigures,
    SubjectFigures,
    WebhookFigures,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransparencyFigures:
    tenant_id: str
    tenant_slug: str
    tenant_name: str
    period: str
    period_start: str
    period_end: str
    generated_at: str
    messages: tuple[MessageCount, ...]
    data_held: tuple[Holding, ...]
    retention: RetentionFigures
    purges: PurgeFigures
    subjects: SubjectFigures
    holds: HoldFigures
    reveals: tuple[LabelCount, ...]
    staff_access: AccessFigures
    security_alerts: int
    signature_failures: int
    webhooks: WebhookFigures


def transparency_figures(*, tenant: Tenant, period: Period, now: datetime) -> TransparencyFigures:
    """Every figure of ``tenant`` for ``period``; the data held is counted as of ``now``."""
    return TransparencyFigures(
        tenant_id=str(tenant.pk),
        tenant_slug=tenant.slug,
        tenant_name=tenant.name,
        period=period.label,
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
        generated_at=now.isoformat(),
        messages=data_figures.messages_by_platform(tenant=tenant, period=period),
        data_held=data_figures.data_held(tenant=tenant, now=now),
        retention=audit_figures.retention(tenant=tenant, period=period),
        purges=audit_figures.purges(tenant=tenant, period=period),
        subjects=audit_figures.subject_rights(tenant=tenant, period=period),
        holds=audit_figures.holds(tenant=tenant, period=period, now=now),
        reveals=audit_figures.reveals_by_reason(tenant=tenant, period=period),
        staff_access=audit_figures.staff_access(tenant=tenant, period=period),
        security_alerts=security_alerts_count(tenant=tenant, period=period),
        signature_failures=signature_failures_count(tenant=tenant, period=period),
        webhooks=data_figures.webhooks(tenant=tenant, period=period),
    )


def security_alerts_count(*, tenant: Tenant, period: Period) -> int:
    """Security alerts raised for the tenant in the period (first seen in it), every severity."""
    return sum(alerts_by_severity(tenant_id=tenant.pk, start=period.start, end=period.end).values())


def signature_failures_count(*, tenant: Tenant, period: Period) -> int:
    """Webhook deliveries to the tenant's own apps refused for a bad signature in the period (hourly counts)."""
    return app_signature_failures(tenant_id=tenant.pk, start=period.start, end=period.end)
