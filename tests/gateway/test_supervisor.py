"""The process supervisor behind `make run`: clean stop on Ctrl-C, everything stops when one process dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

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
