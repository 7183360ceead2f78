"""Beat's part in a process of its own (so its CPU is counted apart): the outbox relay every
``RELAY_INTERVAL_SECONDS`` until SIGTERM. Started by ``processes.relay_process`` with the run's environment."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))


def main() -> None:
    import django

    django.setup()
    from _dispatch.processes import RELAY_INTERVAL_SECONDS, relay_once

    stopped = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    while not stopped.wait(RELAY_INTERVAL_SECONDS):
        relay_once()


if __name__ == "__main__":
    main()
