"""The names of core's periodic tasks, for ``core.tasks`` (which declares them) and beat's schedule (the
settings read ``PERIODIC`` before any app is loaded, so this module imports no Django)."""

from __future__ import annotations

from core.periodic import Periodic

THROTTLE_PRUNE_TASK = "maintenance.throttle_prune"

PERIODIC = (Periodic("throttle-prune", THROTTLE_PRUNE_TASK, 3600.0),)
