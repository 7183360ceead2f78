"""Who hears about a raised alert, without audit importing the layers above it.

Upper layers register in their ``AppConfig.ready()``: ``alert_writer_register`` for a writer that must run in
the alert's own transaction (events: the ``security.alert`` event in the outbox), ``alert_notifier_register``
for one that runs after the commit (accounts: the email to the tenant's owners and admins). A notifier that
fails is logged by class name and does not stop the others; a writer that fails rolls the alert back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from audit.alerts.models import SecurityAlert

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlertRaised:
    """An alert after ``alert_raise``: ``is_new`` when this call opened it, False when it bumped an open one."""

    alert: SecurityAlert
    is_new: bool


AlertListener = Callable[[AlertRaised], None]

_lock = threading.Lock()
_writers: list[AlertListener] = []
_notifiers: list[AlertListener] = []


def alert_writer_register(listener: AlertListener) -> None:
    """Run ``listener`` inside the transaction that raises or bumps an alert (registered once per process)."""
    with _lock:
        if listener not in _writers:
            _writers.append(listener)


def alert_notifier_register(listener: AlertListener) -> None:
    """Run ``listener`` after the transaction that raises or bumps an alert commits."""
    with _lock:
        if listener not in _notifiers:
            _notifiers.append(listener)


def alert_writers_run(raised: AlertRaised) -> None:
    for writer in _writers:
        writer(raised)


def alert_notifiers_run(raised: AlertRaised) -> None:
    for notifier in _notifiers:
        try:
            notifier(raised)
        # Broad on purpose: one broken notifier (a mail server down) must not silence the others (tested). Logged by
        # class name without a traceback: an SMTP error's text may carry addresses or credentials.
        except Exception as error:
            logger.error(  # noqa: TRY400
                "security alert notifier failed",
                extra={"alert_id": str(raised.alert.pk), "listener": _name(notifier), "error": type(error).__name__},
            )


def _name(listener: AlertListener) -> str:
    return getattr(listener, "__qualname__", type(listener).__name__)
