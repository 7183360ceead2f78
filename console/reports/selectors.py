"""Reads the report entry points share: the tenant a command names, the period a request or a command gives."""

from __future__ import annotations

import uuid

from accounts.models import Tenant
from console.reports.periods import Period, PeriodError, period_from_dates, period_parse


def tenant_find(*, key: str) -> Tenant | None:
    """The tenant whose slug, or id, is ``key``."""
    try:
        tenant_id = uuid.UUID(key)
    except ValueError:
        return Tenant.objects.filter(slug=key).first()
    return Tenant.objects.filter(pk=tenant_id).first()


def period_choose(*, period: str | None, first: str | None, last: str | None) -> Period:
    """A named period, or from/to dates: exactly one of the two."""
    if period and (first or last):
        raise PeriodError("give a period or from/to dates, not both")
    if period:
        return period_parse(period)
    if first and last:
        return period_from_dates(first, last)
    raise PeriodError("give a period (YYYY-MM or YYYY-Qn) or both from and to dates (YYYY-MM-DD)")
