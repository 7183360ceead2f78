"""The admin's theme and dashboard (django-unfold)."""

from __future__ import annotations

__all__ = ["UNFOLD"]

UNFOLD = {
    "SITE_TITLE": "Meta gateway admin",
    "SITE_HEADER": "Meta gateway",
    "SITE_SYMBOL": "forum",
    "DASHBOARD_CALLBACK": "console.dashboard.dashboard_callback",
}
