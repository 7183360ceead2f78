"""The "Open alerts" block of the admin index: the channel alerts not resolved yet, of the tenants whose channels
the user may view (every tenant's for operators). The same include and selector serve any other overview page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.admin_scope import Area, Capability, is_operator, tenants_with
from accounts.admin_site import IndexPanel, index_panel_register
from messaging.alerts import channel_alerts_open

OPEN_ALERTS_TEMPLATE = "admin/includes/open_alerts.html"
OPEN_ALERTS_SHOWN = 10


def open_alerts_context(request: HttpRequest) -> dict[str, Any]:
    tenant_ids = None if is_operator(request) else tenants_with(request, Area.CHANNELS, Capability.VIEW)
    alerts = channel_alerts_open(tenant_ids=tenant_ids)
    return {"open_alerts": list(alerts[:OPEN_ALERTS_SHOWN]), "open_alerts_count": alerts.count()}


index_panel_register(IndexPanel(template=OPEN_ALERTS_TEMPLATE, context=open_alerts_context))
