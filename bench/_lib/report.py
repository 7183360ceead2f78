"""The verdicts a benchmark prints at its end, and its exit status."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Verdict:
    label: str
    value: str
    target: str
    passed: bool

    @property
    def mark(self) -> str:
        return "PASS" if self.passed else "FAIL"


def exit_note(*, strict: bool) -> str:
    return "" if strict else " (exit status 0 regardless; --strict makes a failure exit 1)"


def print_targets(verdicts: list[Verdict], widths: tuple[int, int, int], *, strict: bool, started: float) -> int:
    """The targets table, how many pass and the total time; returns the exit status."""
    label_width, value_width, target_width = widths
    failed = [verdict for verdict in verdicts if not verdict.passed]
    print()
    print("Targets")
    for verdict in verdicts:
        print(
            f"   {verdict.label:<{label_width}} {verdict.value:>{value_width}}  {verdict.target:<{target_width}}"
            f" {verdict.mark}"
        )
    print_outcome(len(verdicts), len(failed), strict=strict, started=started)
    return 1 if failed and strict else 0


def print_outcome(total: int, failed: int, *, strict: bool, started: float) -> None:
    outcome = f"{total - failed} of {total} targets pass"
    print(f"{outcome}{exit_note(strict=strict)}; total {time.perf_counter() - started:.1f} s")
