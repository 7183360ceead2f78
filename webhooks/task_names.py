"""The names of webhooks' periodic tasks, for ``webhooks.tasks`` (which declares them) and beat's schedule (the
settings read ``PERIODIC`` before any app is loaded, so this module imports no Django)."""

from __future__ import annotations

from core.periodic import Periodic

DELIVERIES_SWEEP_TASK = "maintenance.deliveries_sweep"

PERIODIC = (Periodic("deliveries-sweep", DELIVERIES_SWEEP_TASK, 60.0),)
