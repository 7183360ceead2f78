"""The gateway's Prometheus metrics (docs/metrics.md): every counter and histogram, defined once, here.

Any layer counts through ``metric_increment`` / ``metric_observe`` with a metric's name and its labels. Labels are
bounded vocabularies (a platform, an outcome, a kind): never a tenant, a phone number, a message id or content.

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment before the process starts, prometheus-client keeps every
value in a file of that folder, so that one scrape adds up all the processes sharing it (gunicorn workers, Celery
worker processes); ``exposition_registry`` is then a registry that reads them all. Without it the values live in
this process and the default registry holds them.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.metrics import MetricWrapperBase

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Acknowledging a webhook takes a few milliseconds; Meta gives up after a few seconds, so a second is already bad.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

_METRICS: dict[str, MetricWrapperBase] = {}
# Each metric's child per label set, once looked up: ``labels()`` validates and locks on every call, and labels are
# bounded vocabularies, so this stays small. A child survives a fork (its value notices the new process id).
_CHILDREN: dict[tuple[str, tuple[tuple[str, str], ...]], MetricWrapperBase] = {}


def _defined(metric: MetricWrapperBase) -> None:
    _METRICS[metric._name] = metric


_defined(
    Histogram(
        "gateway_webhook_ack_seconds",
        "Seconds from a signed webhook reaching the view to its 200: reading, checking, encrypting, the INSERT.",
        ["platform"],
        buckets=ACK_BUCKETS,
    )
)
_defined(
    Counter(
        "gateway_webhooks",
        "Webhook POSTs answered, by outcome (accepted, rejected_signature, too_large, length_required).",
        ["platform", "outcome"],
    )
)
_defined(Counter("gateway_webhook_deliveries_failed", "Webhook deliveries dead-lettered after their last attempt."))
_defined(
    Counter("gateway_webhook_deliveries_unreadable", "Signed webhook deliveries refused as a whole by the parser.")
)
_defined(Counter("gateway_webhook_quarantine_replays", "Quarantined webhook items replayed, by outcome.", ["outcome"]))
_defined(
    Counter(
        "gateway_sends",
        "Outbound send tries, by platform and what the answer did (accepted, retry, throttled, held, failed, ...).",
        ["platform", "outcome"],
    )
)
_defined(Counter("gateway_purged", "Rows, contents and keys removed by retention purge passes, by kind.", ["kind"]))
_defined(Counter("gateway_security_alerts", "Security alerts raised (opened or bumped), by detector.", ["kind"]))
_defined(Counter("gateway_event_deliveries", "Event delivery tries, by outcome.", ["outcome"]))
_defined(
    Counter("gateway_decrypt_failures", "Stored values that failed to decrypt, by model and field.", ["model", "field"])
)


def metric_increment(name: str, amount: float = 1, **labels: str) -> None:
    """Add ``amount`` to the counter ``name`` (its Prometheus name without ``_total``); unknown names raise."""
    metric = _METRICS[name]
    if not isinstance(metric, Counter):
        raise TypeError(f"{name} is not a counter")
    _child(name, metric, labels).inc(amount)


def metric_observe(name: str, value: float, **labels: str) -> None:
    metric = _METRICS[name]
    if not isinstance(metric, Histogram):
        raise TypeError(f"{name} is not a histogram")
    _child(name, metric, labels).observe(value)


def _child(name: str, metric: MetricWrapperBase, labels: dict[str, str]) -> Any:
    if not labels:
        return metric
    key = (name, tuple(labels.items()))
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN.setdefault(key, metric.labels(**labels))
    return child


def metric_value(name: str, **labels: str) -> float:
    """This process's count for ``name`` (a histogram's number of observations); with labels, only the series
    carrying all of them."""
    metric = _METRICS[name]
    wanted = set(labels.items())
    suffix = "_count" if isinstance(metric, Histogram) else "_total"
    return sum(
        sample.value
        for family in metric.collect()
        for sample in family.samples
        if sample.name == f"{name}{suffix}" and wanted <= set(sample.labels.items())
    )


def is_multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_DIR_ENV))


def exposition_registry() -> CollectorRegistry:
    """What a scrape of this host reads: every process sharing the multiprocess folder, or this process."""
    if not is_multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    return registry


def process_dead(pid: int) -> None:
    """Forget a finished process's live gauges (its counters stay counted); for gunicorn's ``child_exit``."""
    if is_multiprocess():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # untyped upstream
