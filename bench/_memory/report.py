"""What bench/memory.py prints: each process's memory at each reading, the growth over warm-up, the export's peak."""

from __future__ import annotations

from dataclasses import dataclass

from _lib.report import Verdict

from _memory.export import ExportOutcome
from _memory.rss import Memory

GROWTH_SHARE = 0.10  # of a process's warm-up RSS
GROWTH_FLOOR_MB = 10.0  # below this, growth is the allocator's and the caches' settling, not a leak
EXPORT_PEAK_MB = 200.0

Readings = dict[str, dict[str, dict[int, Memory]]]  # reading -> kind -> pid -> memory


@dataclass(frozen=True)
class Growth:
    kind: str
    pid: int
    warm_mb: float
    after_mb: float

    @property
    def growth_mb(self) -> float:
        return self.after_mb - self.warm_mb

    @property
    def allowed_mb(self) -> float:
        return max(self.warm_mb * GROWTH_SHARE, GROWTH_FLOOR_MB)


def report_readings(readings: Readings) -> None:
    print()
    print("Resident memory per process, MB (RSS / PSS), at each reading")
    names = list(readings)
    print(f"   {'process':<24}" + "".join(f"{name:>22}" for name in names))
    for kind, pids in readings[names[0]].items():
        for pid in pids:
            cells = []
            for name in names:
                memory = readings[name].get(kind, {}).get(pid)
                cells.append(f"{memory.rss_mb:10.1f} / {memory.pss_mb:7.1f}" if memory else f"{'gone':>20}")
            print(f"   {f'{kind} {pid}':<24}" + "".join(f"{cell:>22}" for cell in cells))


def growths(readings: Readings, warm: str, after: str) -> list[Growth]:
    found = []
    for kind, pids in readings[warm].items():
        for pid, memory in pids.items():
            later = readings[after].get(kind, {}).get(pid)
            if later is not None:
                found.append(Growth(kind, pid, memory.rss_mb, later.rss_mb))
    return found


def growth_verdicts(readings: Readings, warm: str, after: str, expected: dict[str, int]) -> list[Verdict]:
    """Per kind, the largest growth of one of its processes against what that process may grow; a process that
    is gone (restarted, or killed for its memory) fails its kind."""
    verdicts = []
    rows = growths(readings, warm, after)
    for kind, count in expected.items():
        mine = [row for row in rows if row.kind == kind]
        worst = max(mine, key=lambda row: row.growth_mb - row.allowed_mb, default=None)
        if worst is None or len(mine) < count:
            verdicts.append(Verdict(f"{kind}: RSS growth after warm-up", "gone", "all processes up", passed=False))
            continue
        target = f"<= {worst.allowed_mb:.0f} MB"
        value = f"{worst.growth_mb:+.1f} MB"
        verdicts.append(
            Verdict(f"{kind}: RSS growth after warm-up", value, target, worst.growth_mb <= worst.allowed_mb)
        )
    return verdicts


def report_export(outcome: ExportOutcome, messages: int) -> Verdict:
    print()
    print(f"Subject export of one contact with {messages:,} messages (each with a status event), in its own process")
    print(f"   seeded in {outcome.seed_seconds:.1f} s; build {outcome.outcome} in {outcome.seconds:.1f} s")
    print(f"   archive {outcome.size / 1024 / 1024:.2f} MB (the zip, before sealing)")
    print(
        f"   VmHWM after Django set-up {outcome.ready_hwm_kb / 1024:.1f} MB; after the build {outcome.peak_mb:.1f} MB"
    )
    passed = outcome.outcome == "ready" and outcome.peak_mb <= EXPORT_PEAK_MB
    return Verdict(
        f"export of {messages:,} messages: peak RSS", f"{outcome.peak_mb:.0f} MB", f"<= {EXPORT_PEAK_MB:.0f} MB", passed
    )
