"""The admin's landing page: Unfold calls ``dashboard_callback`` (settings.UNFOLD) to fill the index's context.

Every section is scoped to the tenants the user's role lets them view in that section's area (operators: all),
and reads the hourly rollup or rows along indexes of what is waiting, so the page costs the same number of
queries whatever the number of messages (docs/dashboard.md).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from console.dashboard_operations import channels_section, events_section, webhooks_section
from console.dashboard_policies import keys_section, retention_section, security_section
from console.dashboard_scope import DashboardScope
from console.dashboard_traffic import traffic_section

DASHBOARD_TEMPLATE = "console/dashboard.html"


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    scope = DashboardScope(request)
    now = timezone.now()
    context["dashboard"] = {
        "now": now,
        "traffic": traffic_section(scope, now=now),
        "webhooks": webhooks_section(scope, now=now),
        "events": events_section(scope, now=now),
        "channels": channels_section(scope),
        "keys": keys_section(scope, now=now),
        "retention": retention_section(scope, now=now),
        "security": security_section(scope),
    }
    return context
