"""How many task messages wait in each broker queue: Redis' list lengths, or the embedded broker's queue files.

A message a worker has taken and not yet acknowledged is not waiting (Redis keeps it in its unacked hash, the
embedded broker in its claimed folder), so a busy queue with idle workers reads 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import current_app

BROKER_TIMEOUT_SECONDS = 2


def queue_sizes(names: Iterable[str]) -> dict[str, int]:
    """Messages waiting per queue, in one broker connection; raises kombu's OperationalError or OSError when the
    broker cannot be reached. A queue never used reads 0 (declaring it creates nothing on either broker)."""
    with current_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
        channel: Any = connection.default_channel  # a kombu virtual channel: its stubs know only StdChannel
        return {name: int(channel.queue_declare(queue=name).message_count) for name in names}
