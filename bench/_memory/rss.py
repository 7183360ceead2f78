"""Resident memory of processes, from /proc (Linux): VmRSS and VmHWM from ``status``, PSS from ``smaps_rollup``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Memory:
    rss_kb: int
    pss_kb: int  # 0 where smaps_rollup is not readable
    hwm_kb: int

    @property
    def rss_mb(self) -> float:
        return self.rss_kb / 1024

    @property
    def pss_mb(self) -> float:
        return self.pss_kb / 1024


def memory_of(pid: int) -> Memory:
    status = _fields(PROC / str(pid) / "status")
    rollup = _fields(PROC / str(pid) / "smaps_rollup")
    return Memory(status.get("VmRSS", 0), rollup.get("Pss", 0), status.get("VmHWM", 0))


def _fields(path: Path) -> dict[str, int]:
    """``Name:  1234 kB`` lines as {name: kB}; empty when the file cannot be read (gone, or not permitted)."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():  # noqa: PLR2004
            values[name] = int(parts[0])
    return values


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers under its master), by pid."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)
