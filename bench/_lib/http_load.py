"""HTTP load on 127.0.0.1 from threads of this process: closed-loop (as fast as answered) and paced (open loop,
latency from each request's scheduled send)."""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from _lib.statistics import percentile

PACED_CONNECTIONS = 16  # enough that a slow answer does not hold back the next scheduled send
WARMUP_REQUESTS = 200
REQUEST_TIMEOUT = 10.0


def request_once(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@dataclass
class Target:
    label: str
    path: str
    requests: list[tuple[bytes, dict[str, str]]]  # (body, headers), cycled


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            self.connection.request("POST", path, body=body, headers=headers)
            response = self.connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return 0
        if response.will_close:
            self.close()
        return response.status

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class LoadResult:
    ok: int = 0
    errors: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds from the scheduled send to the answer

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        return percentile(self.latencies, share)


def run_threads(count: int, work: Callable[[Client], None], port: int) -> None:
    clients = [Client(port) for _ in range(count)]
    threads = [threading.Thread(target=work, args=(client,), daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT * 3 + 120)
    for client in clients:
        client.close()


def closed_loop(port: int, target: Target, seconds: float, connections: int) -> LoadResult:
    """As many requests as ``connections`` keep-alive connections get answered in ``seconds``."""
    result = LoadResult()
    lock = threading.Lock()
    counter = itertools.count()
    max_requests = int(seconds * 50_000)  # a bound on the loop, far above what 2 cores answer
    started = time.perf_counter()
    deadline = started + seconds

    def work(client: Client) -> None:
        ok, errors = 0, Counter[int]()
        while time.perf_counter() < deadline:
            index = next(counter)
            if index >= max_requests:
                break
            body, headers = target.requests[index % len(target.requests)]
            status = client.post(target.path, body, headers)
            if status == http.client.OK:
                ok += 1
            else:
                errors[status] += 1
        with lock:
            result.ok += ok
            result.errors.update(errors)

    run_threads(connections, work, port)
    result.seconds = time.perf_counter() - started
    return result


def paced(port: int, target: Target, rate: float, seconds: float) -> LoadResult:
    """Open loop: request i is due at start + i / rate; its latency counts from then, not from when it went out
    (a stalled server delays later sends, and that wait is part of their latency)."""
    result = LoadResult()
    lock = threading.Lock()
    total = int(rate * seconds)
    counter = itertools.count()
    started = time.perf_counter() + 0.05
    hard_deadline = started + seconds + 30

    def work(client: Client) -> None:
        latencies, errors = [], Counter[int]()
        while True:
            index = next(counter)
            if index >= total or time.perf_counter() > hard_deadline:
                break
            due = started + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body, headers = target.requests[index % len(target.requests)]
            status = client.post(target.path, body, headers)
            if status == http.client.OK:
                latencies.append(time.perf_counter() - due)
            else:
                errors[status] += 1
        with lock:
            result.latencies.extend(latencies)
            result.ok += len(latencies)
            result.errors.update(errors)

    run_threads(PACED_CONNECTIONS, work, port)
    result.seconds = time.perf_counter() - started
    return result


def warm_up(port: int, targets: list[Target]) -> None:
    for target in targets:
        closed_loop(port, Target(target.label, target.path, target.requests[:WARMUP_REQUESTS]), 1.0, 4)
