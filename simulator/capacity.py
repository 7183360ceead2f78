"""How many sends per second the simulator accepts, so a benchmark can show it is not the bottleneck.

``python -m simulator.capacity`` starts a simulator (or uses ``--url``), registers a channel with no
limits, and drives it with plain keep-alive ``http.client`` connections from several threads. With
``--statuses`` every accepted send also posts its three status webhooks, to a second simulator's
``/_sim/sink`` endpoint, so the cost of the webhook sender is included.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
CHANNEL_ID = "999000111"
TOKEN = "capacity-token"


@dataclass(frozen=True, slots=True)
class CapacityResult:
    accepted: int
    failed: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds


@dataclass(frozen=True, slots=True)
class Running:
    url: str
    pid: int | None


@contextmanager
def simulator_process(*arguments: str) -> Iterator[Running]:
    """A simulator subprocess on a free port; stopped afterwards."""
    command = [sys.executable, "-m", "simulator", "--port", "0", "--log-level", "WARNING", *arguments]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert process.stdout is not None  # noqa: S101 - stdout=PIPE above
        yield Running(process.stdout.readline().split()[-1], process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process (Linux /proc), to report cost per send on a noisy machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def control(base_url: str, method: str, path: str, body: Any = None) -> Any:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def channel_register(base_url: str, *, webhook_url: str | None) -> None:
    channel = {
        "platform": "whatsapp",
        "provider_id": CHANNEL_ID,
        "access_token": TOKEN,
        "app_secret": "capacity-secret",
        "webhook_url": webhook_url,
        "mps": 10_000_000,
        "pair_period_seconds": 0,
        "enforce_window": False,
        "status_delays_ms": [0, 0, 0] if webhook_url else None,
    }
    control(base_url, "POST", "/_sim/channels", channel)


def measure(base_url: str, *, threads: int = 8, seconds: float = 5.0) -> CapacityResult:
    """Send as fast as ``threads`` keep-alive connections can for ``seconds``; count 200 answers."""
    parts = urlsplit(base_url)
    deadline = time.perf_counter() + seconds
    counts = [[0, 0] for _ in range(threads)]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        sequence = 0
        while time.perf_counter() < deadline:
            sequence += 1
            body = (
                f'{{"messaging_product":"whatsapp","to":"+1555{sequence % 10_000_000:07d}","type":"text",'
                f'"text":{{"body":"capacity"}},"biz_opaque_callback_data":"t{index}-{sequence}"}}'
            )
            connection.request("POST", f"/v23.0/{CHANNEL_ID}/messages", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            counts[index][0 if response.status == 200 else 1] += 1  # noqa: PLR2004
        connection.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    return CapacityResult(sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.capacity", description=__doc__)
    parser.add_argument("--url", help="a running simulator (default: start one)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--statuses", action="store_true", help="also post 3 status webhooks per send to a sink")
    parser.add_argument("--status-batch", type=int, default=1, help="statuses per webhook POST (with --statuses)")
    options = parser.parse_args(argv)
    arguments = ("--status-batch", str(options.status_batch))
    with _maybe_simulator(options.url, *arguments) as simulator, _maybe_sink(options.statuses) as sink_url:
        channel_register(simulator.url, webhook_url=sink_url)
        cpu_before = cpu_seconds(simulator.pid)
        result = measure(simulator.url, threads=options.threads, seconds=options.seconds)
        if sink_url is not None:
            _wait_idle(simulator.url)
        cpu_after = cpu_seconds(simulator.pid)
        webhooks = control(simulator.url, "GET", "/_sim/webhooks")
    print(  # noqa: T201
        f"accepted sends/s: {result.per_second:.0f} (accepted={result.accepted} failed={result.failed} "
        f"threads={options.threads} seconds={result.seconds:.1f} statuses={'on' if options.statuses else 'off'} "
        f"webhook posts ok={webhooks['posts_ok']} cpus={os.cpu_count()})"
    )
    if cpu_before is not None and cpu_after is not None and result.accepted:
        per_send = (cpu_after - cpu_before) / result.accepted
        print(  # noqa: T201
            f"simulator CPU per accepted send: {per_send * 1e6:.0f} us "
            f"(one core saturates at about {1 / per_send:.0f} sends/s, webhooks included)"
        )
    return 0 if result.failed == 0 else 1


def _wait_idle(base_url: str) -> None:
    """Let the status webhooks of the run drain, so their cost is counted."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not control(base_url, "GET", "/_sim/webhooks")["idle"]:
        time.sleep(0.2)


@contextmanager
def _maybe_simulator(url: str | None, *arguments: str) -> Iterator[Running]:
    if url:
        yield Running(url.rstrip("/"), None)
        return
    with simulator_process(*arguments) as running:
        yield running


@contextmanager
def _maybe_sink(is_wanted: bool) -> Iterator[str | None]:
    if not is_wanted:
        yield None
        return
    with simulator_process() as sink:
        yield f"{sink.url}/_sim/sink"


if __name__ == "__main__":
    sys.exit(main())
