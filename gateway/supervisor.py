"""Run the processes of a Procfile together, prefixing their output, and stop them cleanly.

    python -m gateway.supervisor deploy/Procfile.dev

Ctrl-C, SIGTERM or SIGHUP sends SIGTERM to each process's main pid only, so gunicorn drains its requests
and Celery finishes or requeues its tasks and stops its own children; whatever is still running after
``STOP_TIMEOUT_SECONDS`` is killed, and so is whatever a process leaves behind in its process group. If one
process dies, the others are stopped too and the exit status is non-zero. (Procfile runners such as honcho
signal whole process groups and kill after 5 s, which cuts Celery's pool children off mid-task.)

Nothing outlives the supervisor, even one killed with SIGKILL: on Linux the kernel sends each process
SIGTERM when the supervisor dies (PR_SET_PDEATHSIG), and a watchdog forked at start, in a session of its
own, then waits up to ``STOP_TIMEOUT_SECONDS`` for the main pids and kills their process groups.

Output never holds a process up: one thread writes it, from a buffer of ``OUTPUT_BUFFER_BYTES``. Lines that
do not fit while standard output is not read are dropped and counted; once standard output is gone (a
closed terminal, ``make run | head``) everything is still read from the processes and discarded.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

STOP_TIMEOUT_SECONDS = 30
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
OUTPUT_BUFFER_BYTES = 1 << 20
OUTPUT_CLOSE_TIMEOUT_SECONDS = 5
LINE_LIMIT_BYTES = 1 << 16
PR_SET_PDEATHSIG = 1
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


class Output:
    """Standard output written by one thread, so that a slow or vanished reader never blocks a relay."""

    def __init__(self) -> None:
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._dropped = 0
        self._is_closing = False
        self._is_lost = False
        self._condition = threading.Condition()
        self._writer = threading.Thread(target=self._write_until_closed, daemon=True)
        self._writer.start()

    def relay(self, line: bytes) -> None:
        with self._condition:
            if self._pending_bytes + len(line) > OUTPUT_BUFFER_BYTES:
                self._dropped += 1
            else:
                self._append(line)

    def say(self, text: str) -> None:
        with self._condition:
            self._append(f"{text}\n".encode())

    def close(self) -> None:
        """Let the writer finish what is pending, waiting at most ``OUTPUT_CLOSE_TIMEOUT_SECONDS`` for it."""
        with self._condition:
            self._is_closing = True
            self._condition.notify()
        self._writer.join(timeout=OUTPUT_CLOSE_TIMEOUT_SECONDS)

    def _append(self, line: bytes) -> None:
        self._pending.append(line)
        self._pending_bytes += len(line)
        self._condition.notify()

    def _take_pending(self) -> bytes | None:
        with self._condition:
            self._condition.wait_for(lambda: bool(self._pending) or self._is_closing)
            if not self._pending:
                return None
            pending = b"".join(self._pending)
            self._pending.clear()
            self._pending_bytes = 0
            if self._dropped:
                pending += f"supervisor: {self._dropped} lines dropped, output was not read fast enough\n".encode()
                self._dropped = 0
            return pending

    def _write_until_closed(self) -> None:
        while (pending := self._take_pending()) is not None:
            if not self._is_lost:
                self._write(pending)

    def _write(self, data: bytes) -> None:
        remaining = memoryview(data)
        try:
            while remaining:
                remaining = remaining[os.write(sys.stdout.fileno(), remaining) :]
        except OSError as error:
            self._is_lost = True
            _write_to_stderr(f"supervisor: standard output is gone ({error.strerror}); discarding all output\n")


def _write_to_stderr(text: str) -> None:
    with contextlib.suppress(OSError):  # standard error may have gone with standard output
        os.write(sys.stderr.fileno(), text.encode())


def _relay(prefix: bytes, stream: IO[bytes], output: Output) -> None:
    for line in iter(lambda: stream.readline(LINE_LIMIT_BYTES), b""):
        output.relay(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")


def relay_output(managed: list[Managed], output: Output) -> None:
    is_terminal = sys.stdout.isatty()
    for index, item in enumerate(managed):
        colour = COLOURS[index % len(COLOURS)]
        prefix = f"{colour}{item.name:<7}|{RESET} " if is_terminal else f"{item.name:<7}| "
        threading.Thread(target=_relay, args=(prefix.encode(), item.process.stdout, output), daemon=True).start()


def _parent_death_signal_setter() -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to send the process SIGTERM when the supervisor dies (Linux only)."""
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is None:
        return None
    supervisor_pid = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM))
        if os.getppid() != supervisor_pid:  # the supervisor died before the signal was armed
            os._exit(1)

    return arm


class Watchdog:
    """A forked process that stops what the supervisor started if the supervisor dies without doing it.

    The supervisor sends it each main pid, then ``done`` once everything is stopped; end of file without
    ``done`` means the supervisor is dead.
    """

    def __init__(self) -> None:
        read_end, self._write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.close(self._write_end)
                _watch(read_end)
            finally:
                os._exit(0)  # never return into the supervisor's code
        os.close(read_end)

    def guard(self, pid: int) -> None:
        self._send(f"{pid}\n")

    def release(self) -> None:
        self._send("done\n")
        os.close(self._write_end)
        os.waitpid(self.pid, 0)

    def _send(self, text: str) -> None:
        with contextlib.suppress(BrokenPipeError):  # the watchdog was killed; the parent-death signal remains
            os.write(self._write_end, text.encode())


def _watch(read_end: int) -> None:
    os.setsid()  # out of the terminal's reach: Ctrl-C and hangups are the supervisor's to handle
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR)
    for standard_fd in (0, 1, 2):
        os.dup2(null, standard_fd)
    received = b""
    while chunk := os.read(read_end, 4096):
        received += chunk
    lines = received.split()
    if b"done" not in lines:
        _stop_orphans([int(line) for line in lines])


def _stop_orphans(pids: list[int]) -> None:
    if _set_parent_death_signal is None:
        for pid in pids:
            _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while any(_is_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        _kill_group(pid)


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        return _signal(pid, 0)
    return state not in {"Z", "X"}  # a zombie has exited and waits only for whoever reaps orphans


def _signal(pid: int, signum: int) -> bool:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def _kill_group(leader_pid: int) -> None:
    """SIGKILL the process group a Procfile process leads, and so anything it left behind.

    A group id is not handed out again while any process of the group lives, so this can only reach
    another group if the group emptied and the pid numbers wrapped around in between.
    """
    with contextlib.suppress(ProcessLookupError):  # the group is empty
        os.killpg(leader_pid, signal.SIGKILL)


_set_parent_death_signal = _parent_death_signal_setter()


def start(entries: list[tuple[str, str]], watchdog: Watchdog) -> list[Managed]:
    """Start every process, each leading a session and process group of its own.

    Call before any thread exists: the preexec_fn runs Python between fork and exec.
    """
    managed = []
    for name, command in entries:
        process = subprocess.Popen(  # noqa: S602  (Procfile lines are shell commands by definition)
            f"exec {command}",  # the shell expands variables, then becomes the process we signal
            shell=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_set_parent_death_signal,  # noqa: PLW1509  (no thread exists yet)
        )
        watchdog.guard(process.pid)
        managed.append(Managed(name, process))
    return managed


def stop(managed: list[Managed], output: Output) -> None:
    for item in managed:
        if item.process.poll() is None:
            item.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for item in managed:
        try:
            item.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            output.say(f"supervisor: {item.name} did not stop in {STOP_TIMEOUT_SECONDS} s; killing it")
        _kill_group(item.process.pid)  # a process that did not stop in time, or what an exited one left behind
        item.process.wait()


def catch_stop_signals() -> list[int]:
    """Record stop signals in the returned list; the handler does nothing else, so it cannot deadlock."""
    received: list[int] = []

    def record(signum: int, _: FrameType | None) -> None:
        received.append(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, record)
    return received


def supervise(managed: list[Managed], output: Output, stop_signals: list[int]) -> int:
    while not stop_signals:
        exited = [item for item in managed if item.process.poll() is not None]
        if exited:
            output.say(f"supervisor: {exited[0].name} exited with status {exited[0].process.returncode}; stopping")
            stop(managed, output)
            return 1
        time.sleep(0.5)
    name = signal.Signals(stop_signals[0]).name
    output.say(f"\nsupervisor: {name} received, stopping (up to {STOP_TIMEOUT_SECONDS} s)")
    stop(managed, output)
    return 0


def run(entries: list[tuple[str, str]]) -> int:
    stop_signals = catch_stop_signals()
    watchdog = Watchdog()
    managed = start(entries, watchdog)
    output = Output()
    relay_output(managed, output)
    status = supervise(managed, output, stop_signals)
    watchdog.release()
    output.close()
    return status


def main(arguments: list[str]) -> int:
    if len(arguments) != 1 or arguments[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if arguments[:1] in (["-h"], ["--help"]) else 2
    return run(read_procfile(Path(arguments[0])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
