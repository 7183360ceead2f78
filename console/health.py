"""Readiness probes: can this process reach the database and the broker, and use its key provider, right now?

Each probe answers a stable name and whether it passed; a failure is reported by name only (never the URL, the
host or the driver's message, which may carry credentials).
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import current_app
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from kombu.exceptions import OperationalError as BrokerError

from encryption.providers import root_provider_is_usable

BROKER_TIMEOUT_SECONDS = 2


@dataclass(frozen=True, slots=True)
class ProbeResult:
    name: str
    is_ok: bool


def database_probe() -> ProbeResult:
    """One ``SELECT 1`` on the default database."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return ProbeResult("database", is_ok=False)
    return ProbeResult("database", is_ok=True)


def broker_probe() -> ProbeResult:
    """Open (and close) a connection to the Celery broker the tasks are published to, without retrying."""
    try:
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
    except (BrokerError, OSError, TimeoutError):
        return ProbeResult("broker", is_ok=False)
    return ProbeResult("broker", is_ok=True)


def key_provider_probe() -> ProbeResult:
    """The root key provider loads its keys and wraps and unwraps a throwaway key (without it no new key can be
    made and no stored key opened)."""
    return ProbeResult("key_provider", is_ok=root_provider_is_usable())


def readiness_probes() -> list[ProbeResult]:
    return [database_probe(), broker_probe(), key_provider_probe()]
