"""Beat's part during a run: one periodic function (a relay) called in a thread of this process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Pump:
    """Calls ``beat`` every ``interval`` seconds until stopped; keeps the first error for the caller."""

    def __init__(self, beat: Callable[[], object], interval: float) -> None:
        self.beat = beat
        self.interval = interval
        self.stopped = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stopped.wait(self.interval):
                self.beat()
        except BaseException as error:  # reported by the caller
            self.errors.append(error)
        finally:
            connection.close()


@contextmanager
def pumping(beat: Callable[[], object], interval: float) -> Iterator[Pump]:
    pump = Pump(beat, interval)
    pump.thread.start()
    try:
        yield pump
    finally:
        pump.stopped.set()
        pump.thread.join(timeout=30)
    if pump.errors:
        raise pump.errors[0]
