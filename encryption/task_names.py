"""The names of encryption's periodic tasks, for ``encryption.tasks`` (which declares them) and beat's schedule
(the settings read ``PERIODIC`` before any app is loaded, so this module imports no Django)."""

from __future__ import annotations

from core.periodic import Periodic

KEYS_DESTROY_DUE_TASK = "maintenance.keys_destroy_due"

PERIODIC = (Periodic("keys-destroy-due", KEYS_DESTROY_DUE_TASK, 60.0),)
