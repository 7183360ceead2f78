"""``crypto.py --instructions``: the ORM case counted in machine instructions, which a shared machine's load
cannot bend. Each side runs in a child process under ``valgrind --tool=cachegrind``, once with 2 loads and once
with 7 (after a warm-up load); the difference over 5 loads is the cost of a load without the set-up."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

CHILD = Path(__file__).resolve().parent / "instructions_child.py"
FEW, MANY = 2, 7
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def valgrind_found() -> bool:
    return shutil.which("valgrind") is not None


def instructions_per_load(database: str, kind: str) -> int:
    return (_counted(database, kind, MANY) - _counted(database, kind, FEW)) // (MANY - FEW)


def _counted(database: str, kind: str, loads: int) -> int:
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        str(CHILD),
        database,
        kind,
        str(loads),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=True)  # noqa: S603
    found = _REFS.search(finished.stderr)
    if found is None:
        raise RuntimeError("cachegrind printed no instruction count")
    return int(found.group(1).replace(",", ""))
