"""Interleaved timing of cases against the baseline of their group, and the table and verdicts of their ratios."""

from __future__ import annotations

import gc
import statistics
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Case:
    group: str  # cases are compared with the baseline of their group
    label: str
    run: Callable[[int], float]  # loops -> seconds for that many loops
    baseline: bool = False
    target: float | None = None  # maximum ratio to the baseline, or None (information only)
    loops: int = 1
    samples: list[float] = field(default_factory=list)  # seconds per operation

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Verdict:
    label: str
    ratio: float
    target: float

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target

    @property
    def mark(self) -> str:
        return f"<= {self.target:.1f}x  {'PASS' if self.passed else 'FAIL'}"


@contextmanager
def gc_paused() -> Iterator[None]:
    """As timeit does: no collector pauses inside a sample (they land on whichever side allocates last)."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def statement(stmt: str, namespace: dict[str, Any]) -> Callable[[int], float]:
    """A timeit loop whose body is exactly ``stmt`` (no extra Python call per iteration; gc paused)."""
    return timeit.Timer(stmt, globals=namespace).timeit


def calibrate(run: Callable[[int], float], seconds: float) -> int:
    """The smallest 1-2-5 loop count whose run takes at least ``seconds``."""
    loops = 1
    while True:
        for step in (1, 2, 5):
            if run(loops * step) >= seconds:
                return loops * step
        loops *= 10


def measure_interleaved(cases: list[Case], repeats: int, *, between: Callable[[], None] | None = None) -> None:
    """``repeats`` rounds of every case in turn; each sample is one run of ``case.loops`` operations."""
    for case in cases:
        case.run(max(1, case.loops // 10))  # warm-up
    for _ in range(repeats):
        for case in cases:
            if between is not None:
                between()
            case.samples.append(case.run(case.loops) / case.loops)


def ratios(cases: list[Case], statistic: Callable[[Case], float]) -> dict[str, float]:
    baselines = {case.group: statistic(case) for case in cases if case.baseline}
    return {case.label: statistic(case) / baselines[case.group] for case in cases}


def round_ratios(cases: list[Case]) -> dict[str, list[float]]:
    """Each round's ratio to the baseline sample taken just before it: a burst of noise shows up as spread."""
    baselines = {case.group: case.samples for case in cases if case.baseline}
    return {
        case.label: [sample / base for sample, base in zip(case.samples, baselines[case.group], strict=True)]
        for case in cases
    }


def verdicts_of(cases: list[Case], statistic: Callable[[Case], float], *, suffix: str = "") -> list[Verdict]:
    ratio = ratios(cases, statistic)
    baseline = {case.group: case.label.split(",")[0] for case in cases if case.baseline}
    return [
        Verdict(
            f"{case.group}{suffix}: {case.label.split(',')[0]} vs {baseline[case.group]}", ratio[case.label], target
        )
        for case in cases
        if (target := case.target) is not None
    ]


def print_table(cases: list[Case], *, unit: str, scale: float, by_median: bool) -> list[str]:
    """The table; returns a warning for each target whose per-round ratios fall on both sides of it."""
    statistic: Callable[[Case], float] = (lambda case: case.median) if by_median else (lambda case: case.best)
    ratio = ratios(cases, statistic)
    rounds = round_ratios(cases)
    warnings = []
    first, second = ("median", "best") if by_median else ("best", "median")
    print(
        f"   {'':<8}{'case':<46} {'loops':>6} {first + ' ' + unit:>10} {second:>8} {'ratio':>7} {'rounds':>13}  target"
    )
    for case in cases:
        values = (case.median, case.best) if by_median else (case.best, case.median)
        low, high = min(rounds[case.label]), max(rounds[case.label])
        spread = "" if case.baseline else f"{low:.2f}..{high:.2f}"
        mark = "baseline" if case.baseline else "info"
        if case.target is not None:
            mark = Verdict("", ratio[case.label], case.target).mark
            if low <= case.target < high:  # some rounds pass, some fail: the verdict could flip
                warnings.append(
                    f"{case.group}: {case.label.split(',')[0]}: per-round ratios {low:.2f}..{high:.2f}x straddle"
                    f" the {case.target:.1f}x target; re-run on a quieter machine before trusting this verdict"
                )
        print(
            f"   {case.group:<8}{case.label:<46} {case.loops:>6} {values[0] * scale:>10.3f} {values[1] * scale:>8.3f}"
            f" {ratio[case.label]:>6.2f}x {spread:>13}  {mark}"
        )
    return warnings
