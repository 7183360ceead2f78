"""Reads over security alerts, for the dashboard, the transparency report and the admin."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count

from audit.alerts.history import hourly_total
from audit.alerts.models import SecurityAlert, Severity

# The hourly-count metric of webhook signature failures on one Meta app (subject: the app's id).
SIGNATURE_FAILURES_METRIC = "webhook.signature_failures"


def security_alerts_latest(*, tenant_ids: Iterable[uuid.UUID] | None, limit: int) -> list[SecurityAlert]:
    """The newest alerts first: of these tenants (an empty list: none), or of every tenant and the operator's own
    when ``tenant_ids`` is None (operators)."""
    alerts = SecurityAlert.objects.order_by("-last_seen", "-first_seen")
    if tenant_ids is not None:
        alerts = alerts.filter(tenant_id__in=list(tenant_ids))
    return list(alerts[:limit])


def security_alerts_count(*, tenant_id: uuid.UUID | None, start: datetime, end: datetime) -> dict[str, int]:
    """The alerts first seen in [start, end) for the tenant (None: operator-wide alerts), per severity (every
    severity present, zero when none)."""
    alerts = SecurityAlert.objects.filter(tenant_id=tenant_id, first_seen__gte=start, first_seen__lt=end)
    counted = dict(alerts.order_by().values_list("severity").annotate(total=Count("id")))
    return {severity.value: int(counted.get(severity.value, 0)) for severity in Severity}


def signature_failures_count(*, tenant_id: uuid.UUID, start: datetime, end: datetime) -> int:
    """Webhook signature failures on the tenant's own Meta apps in the hours starting in [start, end)."""
    return hourly_total(metric=SIGNATURE_FAILURES_METRIC, tenant_id=tenant_id, start=start, end=end)
