"""In-process counters (a stand-in for a metrics exporter): names and labels only, never values."""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()


def metric_increment(name: str, **labels: str) -> None:
    with _lock:
        _counters[(name, tuple(sorted(labels.items())))] += 1


def metric_value(name: str, **labels: str) -> int:
    """The count for ``name``; with labels, only the series carrying all of them."""
    wanted = set(labels.items())
    with _lock:
        return sum(count for (key, series), count in _counters.items() if key == name and wanted <= set(series))
