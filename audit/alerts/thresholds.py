"""A detector's thresholds for one tenant: the tenant's override when it has one, else the installation's setting.

Answers are kept in process memory for a few seconds: detectors ask on failure paths that an attack makes hot,
and a changed override reaches every process within that time.
"""

from __future__ import annotations

import threading
import time
import uuid

from django.conf import settings

from audit.alerts.models import ThresholdOverride

CACHE_SECONDS = 5.0

_lock = threading.Lock()
_cache: dict[uuid.UUID, tuple[float, dict[str, int]]] = {}


def threshold_names() -> list[str]:
    return sorted(settings.SECURITY_DETECTION)


def threshold_default(name: str) -> int:
    """The installation's value (``GATEWAY_DETECT_<NAME>`` or the built-in default); KeyError for an unknown name."""
    return int(settings.SECURITY_DETECTION[name])


def threshold_for(name: str, *, tenant_id: uuid.UUID | None) -> int:
    """The value in force for ``tenant_id`` (operator-wide detectors pass None: the installation's value)."""
    default = threshold_default(name)
    if tenant_id is None:
        return default
    return _overrides(tenant_id).get(name, default)


def thresholds_cache_clear() -> None:
    with _lock:
        _cache.clear()


def _overrides(tenant_id: uuid.UUID) -> dict[str, int]:
    cached = _cache.get(tenant_id)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    rows = ThresholdOverride.objects.filter(tenant_id=tenant_id).values_list("name", "value")
    overrides = {name: int(value) for name, value in rows}
    with _lock:
        _cache[tenant_id] = (now + CACHE_SECONDS, overrides)
    return overrides
