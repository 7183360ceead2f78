"""Run the processes of a Procfile together, prefixing their output, and stop them cleanly.

    python -m gateway.supervisor deploy/Procfile.dev

Ctrl-C (or SIGTERM) sends SIGTERM to each process's main pid only, so gunicorn drains its requests and
Celery finishes or requeues its tasks and stops its own children; whatever is still running after
``STOP_TIMEOUT_SECONDS`` is killed. If one process dies, the others are stopped too and the exit
status is non-zero. (Procfile runners such as honcho signal whole process groups and kill after 5 s,
which cuts Celery's pool children off mid-task.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

STOP_TIMEOUT_SECONDS = 30
COLOURS = ("\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m")
RESET = "\033[0m"


@dataclass
class Managed:
    name: str
    process: subprocess.Popen[bytes]


def read_procfile(path: Path) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries.append((name.strip(), command.strip()))
    return entries


def _relay(name: str, colour: str, stream: IO[bytes], lock: threading.Lock) -> None:
    prefix = f"{colour}{name:<7}|{RESET} " if sys.stdout.isatty() else f"{name:<7}| "
    for raw in iter(stream.readline, b""):
        with lock:
            sys.stdout.write(prefix + raw.decode("utf-8", "replace"))
            sys.stdout.flush()


def start(entries: list[tuple[str, str]]) -> list[Managed]:
    lock = threading.Lock()
    managed = []
    for index, (name, command) in enumerate(entries):
        process = subprocess.Popen(  # noqa: S602  (Procfile lines are shell commands by definition)
            f"exec {command}",  # the shell expands variables, then becomes the process we signal
            shell=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        colour = COLOURS[index % len(COLOURS)]
        threading.Thread(target=_relay, args=(name, colour, process.stdout, lock), daemon=True).start()
        managed.append(Managed(name, process))
    return managed


def stop(managed: list[Managed]) -> None:
    for item in managed:
        if item.process.poll() is None:
            item.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for item in managed:
        try:
            item.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"supervisor: {item.name} did not stop in {STOP_TIMEOUT_SECONDS} s; killing it", flush=True)
            os.killpg(item.process.pid, signal.SIGKILL)
            item.process.wait()


def supervise(managed: list[Managed]) -> int:
    stopping = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        print(
            f"\nsupervisor: {signal.Signals(signum).name} received, stopping (up to {STOP_TIMEOUT_SECONDS} s)",
            flush=True,
        )
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stopping.wait(0.5):
        exited = [item for item in managed if item.process.poll() is not None]
        if exited:
            print(
                f"supervisor: {exited[0].name} exited with status {exited[0].process.returncode}; stopping", flush=True
            )
            stop(managed)
            return 1
    stop(managed)
    return 0


def main(arguments: list[str]) -> int:
    if len(arguments) != 1 or arguments[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if arguments[:1] in (["-h"], ["--help"]) else 2
    return supervise(start(read_procfile(Path(arguments[0]))))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
