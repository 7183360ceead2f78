"""The names of the console's periodic tasks, for ``console.tasks`` (which declares them) and beat's schedule
(the settings read ``PERIODIC`` before any app is loaded, so this module imports no Django)."""

from __future__ import annotations

from core.periodic import Periodic

TRAFFIC_ROLLUP_TASK = "maintenance.console_traffic_rollup"
TRAFFIC_ROLLUP_EVERY_SECONDS = 60.0

PERIODIC = (Periodic("console-traffic-rollup", TRAFFIC_ROLLUP_TASK, TRAFFIC_ROLLUP_EVERY_SECONDS),)
