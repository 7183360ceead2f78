"""The process supervisor behind `make run`: clean stop on Ctrl-C, SIGTERM and SIGHUP, everything stops when one
process dies, grandchildren included, output nobody reads stalls nothing, and nothing outlives a killed supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

TRAPPING_CHILD = (
    "import signal, sys, time, pathlib; "
    "signal.signal(signal.SIGTERM, lambda *_: (pathlib.Path(sys.argv[1]).write_text('clean'), sys.exit(0))); "
    "print('up', flush=True); [time.sleep(0.1) for _ in range(600)]"
)


def _start(procfile: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.supervisor", str(procfile)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_line(process: subprocess.Popen[str], text: str) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if text in process.stdout.readline():
            return
    raise AssertionError(f"never saw {text!r}")


def test_interrupt_stops_every_process_through_sigterm(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "".join(f'{name}: {sys.executable} -u -c "{TRAPPING_CHILD}" {tmp_path / name}\n' for name in ("one", "two"))
    )
    supervisor = _start(procfile)
    _wait_for_line(supervisor, "up")
    _wait_for_line(supervisor, "up")

    supervisor.send_signal(signal.SIGINT)

    assert supervisor.wait(timeout=30) == 0
    assert (tmp_path / "one").read_text() == "clean"
    assert (tmp_path / "two").read_text() == "clean"


def test_one_process_dying_stops_the_others(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f'steady: {sys.executable} -u -c "{TRAPPING_CHILD}" {tmp_path / "steady"}\n'
        f'crash: {sys.executable} -c "import time; time.sleep(1); raise SystemExit(3)"\n'
    )

    supervisor = _start(procfile)

    assert supervisor.wait(timeout=60) == 1
    assert (tmp_path / "steady").read_text() == "clean"
    output = supervisor.stdout.read() if supervisor.stdout else ""
    assert "crash exited with status 3" in output


# A Procfile process with a grandchild, as gunicorn and Celery have: it starts a sleeping grandchild in its
# own process group, says "up <name> <pid> <grandchild pid>", writes argv[3] lines of 100 bytes, touches
# <name>.drained and then idles until it is signalled.
FAMILY_PROCESS = """\
import pathlib, subprocess, sys, time
directory, name, lines = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("up", name, grandchild.pid, flush=True)
for _ in range(lines):
    print("x" * 99)
sys.stdout.flush()
(directory / (name + ".drained")).touch()
while True:
    time.sleep(0.1)
"""
MEGABYTES_OF_LINES = 20_000


def _write_family_procfile(directory: Path, lines: int) -> Path:
    script = directory / "family.py"
    script.write_text(FAMILY_PROCESS)
    procfile = directory / "Procfile"
    procfile.write_text(
        "".join(f"{name}: {sys.executable} {script} {directory} {name} {lines}\n" for name in ("one", "two"))
    )
    return procfile


def _process_states() -> dict[int, tuple[str, int]]:
    """State letter and parent pid of every process, from /proc."""
    states = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            states[int(entry.name)] = (fields[0], int(fields[1]))
    return states


def _descendants(pid: int) -> set[int]:
    parents = {child: parent for child, (_, parent) in _process_states().items()}
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        children = {child for child, parent in parents.items() if parent == current} - found
        found |= children
        frontier.extend(children)
    return found


def _running(pids: set[int]) -> set[int]:
    """The pids that still run; a zombie has exited, it only waits for whoever reaps orphans."""
    states = _process_states()
    return {pid for pid in pids if pid in states and states[pid][0] not in {"Z", "X"}}


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after 60 s")
        time.sleep(0.1)


@pytest.fixture
def family() -> Iterator[set[int]]:
    """The pids of everything a test's supervisor started; whatever survives the test is killed."""
    pids: set[int] = set()
    yield pids
    for pid in _running(pids):
        os.kill(pid, signal.SIGKILL)


def _start_family(procfile: Path, family: set[int], stderr: IO[bytes] | None = None) -> subprocess.Popen[str]:
    """Start the supervisor, wait for both processes to be up and record its whole process tree."""
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "gateway.supervisor", str(procfile)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.STDOUT,
        text=True,
    )
    family.add(supervisor.pid)
    for _ in range(2):
        _wait_for_line(supervisor, "up ")
    family |= _descendants(supervisor.pid)
    assert len(family) == 6  # the supervisor, its watchdog, two processes, two grandchildren
    return supervisor


def test_lost_output_stalls_nothing_and_interrupt_still_stops_everything(tmp_path: Path, family: set[int]) -> None:
    procfile = _write_family_procfile(tmp_path, MEGABYTES_OF_LINES)
    with (tmp_path / "stderr").open("wb") as stderr:
        supervisor = _start_family(procfile, family, stderr)
        assert supervisor.stdout is not None
        supervisor.stdout.close()  # `make run | head`, or a closed terminal

        _wait_until(lambda: all((tmp_path / f"{name}.drained").exists() for name in ("one", "two")), "2 MB drained")
        assert _running(family) == family
        supervisor.send_signal(signal.SIGINT)

        assert supervisor.wait(timeout=60) == 0
    errors = (tmp_path / "stderr").read_text()
    assert "Traceback" not in errors
    assert "supervisor: standard output is gone (Broken pipe); discarding all output" in errors
    _wait_until(lambda: not _running(family), "every process to be gone")


def test_unread_output_is_dropped_instead_of_stalling_the_processes(tmp_path: Path, family: set[int]) -> None:
    supervisor = _start_family(_write_family_procfile(tmp_path, MEGABYTES_OF_LINES), family)

    _wait_until(lambda: all((tmp_path / f"{name}.drained").exists() for name in ("one", "two")), "2 MB drained")
    _wait_for_line(supervisor, "lines dropped")
    supervisor.send_signal(signal.SIGTERM)

    assert supervisor.wait(timeout=60) == 0
    _wait_until(lambda: not _running(family), "every process to be gone")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_processes_and_grandchildren(
    tmp_path: Path, family: set[int], signum: signal.Signals
) -> None:
    supervisor = _start_family(_write_family_procfile(tmp_path, 0), family)

    supervisor.send_signal(signum)

    assert supervisor.wait(timeout=60) == 0
    _wait_until(lambda: not _running(family), "every process to be gone")


def test_killed_supervisor_leaves_no_process_behind(tmp_path: Path, family: set[int]) -> None:
    supervisor = _start_family(_write_family_procfile(tmp_path, 0), family)

    supervisor.kill()

    assert supervisor.wait(timeout=60) == -signal.SIGKILL
    _wait_until(lambda: not _running(family), "every process to be gone")
