"""Tables of raw bodies as received, as retention, erasure and legal holds need them: without importing the app
that keeps them.

``webhooks`` registers its delivery ledger in its ``AppConfig.ready()`` (``raw_ledger_register``); ``policies``
purges expired rows, erases a subject's rows and keeps the day keys a hold or pending work still needs through
``raw_ledgers()``, and never names the app or its statuses. With none registered there is nothing raw to purge.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet


@dataclass(frozen=True, slots=True, kw_only=True)
class RawLedger:
    """One table of raw bodies. Its rows have ``tenant_id`` (None: a shared app's), ``meta_app_id`` and
    ``expires_at``; ``body_field`` names the encrypted column holding the body as received."""

    model: type[models.Model]
    body_field: str
    settled: Q  # rows whose processing is over: the purge and an erasure may take them
    pending: Q  # rows still to be processed: the day key their body is sealed under must stay

    def settled_rows(self) -> QuerySet[Any]:
        return self.model._default_manager.filter(self.settled)

    def pending_rows(self) -> QuerySet[Any]:
        return self.model._default_manager.filter(self.pending)


_lock = threading.Lock()
_ledgers: dict[str, RawLedger] = {}


def raw_ledger_register(ledger: RawLedger) -> None:
    """Register ``ledger``; registering the same model again replaces it."""
    with _lock:
        _ledgers[ledger.model._meta.label] = ledger


def raw_ledgers() -> tuple[RawLedger, ...]:
    """The registered ledgers, in registration order."""
    with _lock:
        return tuple(_ledgers.values())
