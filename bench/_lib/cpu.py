"""Where the CPU goes during a measured phase, from Linux /proc: by process or group of processes."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from _lib.server import Server


def proc_pids() -> list[int]:
    try:
        return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except OSError:  # no /proc: not Linux
        return []


def proc_entry(pid: int) -> tuple[str, list[str]] | None:
    """/proc/<pid>/stat: the command name, and the fields after it (state, ppid, pgrp, session, ...); None when
    the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds(stat: list[str]) -> float:
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


# --- gunicorn's processes, the database's backends, this client (bench/ingest.py) -----------------------------


@dataclass
class CpuSplit:
    """CPU seconds, split by who spent them."""

    server: float = 0.0
    database: float = 0.0
    client: float = 0.0

    def add(self, other: CpuSplit) -> None:
        self.server += other.server
        self.database += other.database
        self.client += other.client


@dataclass(frozen=True)
class CpuSnapshot:
    server: dict[int, float]
    database: dict[int, float]
    client: float

    def since(self, before: CpuSnapshot) -> CpuSplit:
        def spent(now: dict[int, float], then: dict[int, float]) -> float:
            return sum(seconds - then.get(pid, 0.0) for pid, seconds in now.items())  # a new process: all of it

        return CpuSplit(
            spent(self.server, before.server), spent(self.database, before.database), self.client - before.client
        )


def cpu_measurable() -> bool:
    from django.db import connection

    return Path("/proc/self/stat").exists() and connection.vendor == "postgresql"


def cpu_snapshot(server: Server) -> CpuSnapshot:
    """CPU so far of gunicorn's session, of the bench database's other client backends, and of this process
    (whose threads are the load's client)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
            " AND pid <> pg_backend_pid()"
        )
        backends = [int(pid) for (pid,) in cursor.fetchall()]
    stats = {pid: entry[1] for pid in [*proc_pids(), *backends] if (entry := proc_entry(pid))}
    return CpuSnapshot(
        server={pid: cpu_seconds(stat) for pid, stat in stats.items() if int(stat[3]) == server.pid},
        database={pid: cpu_seconds(stats[pid]) for pid in backends if pid in stats},
        client=time.process_time(),
    )


# --- named groups of processes, PostgreSQL, Redis and the rest of the machine (bench/dispatch.py) --------------


def session_pids(leader: int) -> list[int]:
    """The processes of the session ``leader`` started (gunicorn's master and its workers)."""
    return [pid for pid in proc_pids() if (entry := proc_entry(pid)) and int(entry[1][3]) == leader]


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds so far: the whole machine (user, system and interrupts, all cores; not idle, iowait or time
    the hypervisor took) and every process by pid, with its name (Linux /proc; empty elsewhere)."""

    busy: float
    processes: dict[int, tuple[str, float]]

    @staticmethod
    def take() -> CpuSample:
        tick = os.sysconf("SC_CLK_TCK")
        try:
            fields = [float(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            busy = (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / tick  # user nice system irq softirq
        except (OSError, IndexError, ValueError):
            busy = float("nan")
        processes = {}
        for pid in proc_pids():
            entry = proc_entry(pid)
            if entry is None:
                continue
            try:
                processes[pid] = (entry[0], cpu_seconds(entry[1]))
            except (ValueError, IndexError):
                continue
        return CpuSample(busy, processes)


def cpu_split(before: CpuSample, after: CpuSample, named: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds between the samples: the named groups, PostgreSQL (every server process: the run's
    backends, WAL writer, checkpointer; other databases too), Redis, and every other process together."""
    owner = {pid: name for name, pids in named.items() for pid in pids}
    split: dict[str, float] = dict.fromkeys(named, 0.0)
    for pid, (command, seconds) in after.processes.items():
        spent = seconds - before.processes.get(pid, (command, 0.0))[1]
        if pid in owner:
            group = owner[pid]
        elif command.startswith("postgres"):
            group = "PostgreSQL"
        elif command.startswith("redis"):
            group = "Redis"
        else:
            group = "other processes"
        split[group] = split.get(group, 0.0) + spent
    split["kernel and exited processes"] = (after.busy - before.busy) - sum(split.values())
    return split
