"""A simulator process of the run's own (``python -m simulator`` on a free port), and its control API."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Simulator:
    url: str
    pid: int

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def request(self, method: str, path: str, body: object = None) -> Any:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        try:
            connection.request(method, path, body=None if body is None else json.dumps(body))
            response = connection.getresponse()
            answer = json.loads(response.read() or b"null")
            if not 200 <= response.status < 300:  # noqa: PLR2004
                raise RuntimeError(f"simulator {method} {path}: {response.status} {answer}")
            return answer
        finally:
            connection.close()

    def webhooks_idle(self, seconds: float = 60.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.request("GET", "/_sim/webhooks")["idle"]:
                return True
            time.sleep(0.2)
        return False


@contextmanager
def simulator(*arguments: str) -> Iterator[Simulator]:
    from simulator.capacity import simulator_process

    with simulator_process(*arguments) as running:
        if running.pid is None:
            raise RuntimeError("the simulator did not start")
        yield Simulator(running.url, running.pid)
