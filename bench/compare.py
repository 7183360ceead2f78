"""Two revisions' benchmarks in one run, interleaved: webhook ingest (bench/ingest.py) and dispatch (bench/dispatch.py).

Each revision is exported with ``git archive`` into a temp folder (no worktree is registered, nothing in the
checkout changes) and runs its OWN bench scripts there, so each imports the gateway's modules where that revision
has them. Round after round the runs alternate: ingest before, ingest after, dispatch before, dispatch after; the
drift of a shared machine then falls on both sides. Printed at the end, per metric, the median of the rounds and
each round's value; main against main, smallest sizes, one round, on a busy 2-core machine:

    metric                                 before      after  after/before   rounds before | after
    ingest throughput webhook/floor         0.40x      0.52x          1.30   0.40 | 0.52
    ingest fan-out items/s                    366        413          1.13   366 | 413
    dispatch sends/s                          173        110          0.64   173 | 110
    dispatch / simulator baseline           0.13x      0.08x          0.62   0.13 | 0.08

(the same code, so the spread is the machine's: read a ratio only over several rounds). The dispatch rows are now
``dispatch / durable floor`` and ``dispatch / channels' limits``; a revision whose bench predates them prints none.

Sizes (defaults, chosen so that 3 rounds take about 13-15 minutes on 2 shared cores): ingest ``--seconds 2 --rate 200
--batches 20`` (its 5 throughput rounds of 2 s per side are fixed), dispatch ``--messages 2000 --paced-seconds 2``
(2,000 messages of 31 columns stay below PostgreSQL's 65,535 parameters in one statement
in revisions whose dispatch bench writes its messages in one INSERT). Each run migrates a throwaway database of
its own (about 15 s).

The Python environment is this checkout's ``.venv`` (``--python`` to choose another) when the revision's
``[project]`` table in pyproject.toml (its dependencies) is the same as this checkout's; otherwise ``make install``
builds one inside the exported tree. Each run has the tree first on ``PYTHONPATH``, ahead of the editable install.
PostgreSQL and Redis come from DATABASE_URL and REDIS_URL, or ``core.services_probe`` finds them.

    .venv/bin/python bench/compare.py main HEAD
    .venv/bin/python bench/compare.py main HEAD --rounds 1 --messages 200 --batches 3 --ingest-seconds 1
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("before", "after")
RUN_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Metric:
    label: str  # as printed in the table
    script: str  # the bench script that prints it
    target_label: str  # the start of its line under "Targets" (the value is the first number with the suffix)
    suffix: str  # after the number: "x" or "/s"


METRICS = (
    Metric("ingest throughput webhook/floor", "ingest", "throughput webhook/floor", "x"),
    Metric("ingest fan-out items/s", "ingest", "fan-out items/s (absolute)", "/s"),
    Metric("dispatch / durable floor", "dispatch", "dispatch / durable floor", "x"),
    Metric("dispatch / channels' limits", "dispatch", "dispatch / limits", "x"),
)


@dataclass
class Side:
    name: str
    revision: str
    commit: str
    tree: Path
    python: Path
    values: dict[str, list[float]] = field(default_factory=dict)


def program(name: str) -> str:
    """The absolute path of a program on PATH (git, tar, make)."""
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not on PATH")
    return found


def git(*arguments: str) -> str:
    command = [program("git"), "-C", str(ROOT), *arguments]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603 (fixed program)


def git_bytes(*arguments: str) -> bytes:
    command = [program("git"), "-C", str(ROOT), *arguments]
    return subprocess.run(command, check=True, capture_output=True).stdout  # noqa: S603 (fixed program)


def export(commit: str, tree: Path) -> None:
    """The revision's files in ``tree``, from ``git archive`` (nothing registered in the repository)."""
    tree.mkdir(parents=True)
    archive = git_bytes("archive", commit)
    subprocess.run([program("tar"), "-x", "-C", str(tree)], input=archive, check=True)  # noqa: S603 (fixed program)


def project_table(pyproject: Path) -> object:
    return tomllib.loads(pyproject.read_text()).get("project")


def python_for(tree: Path, default: Path) -> Path:
    """``default`` when the tree's dependencies are this checkout's; else a venv built in the tree."""
    if project_table(tree / "pyproject.toml") == project_table(ROOT / "pyproject.toml"):
        return default
    print(f"   {tree.name}: its dependencies differ from this checkout's; make install in the tree", flush=True)
    command = [program("make"), "-C", str(tree), "install"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 (fixed program)
    return tree / ".venv" / "bin" / "python"


def prepare(name: str, revision: str, work: Path, python: Path) -> Side:
    commit = git("rev-parse", "--verify", f"{revision}^{{commit}}").strip()
    tree = work / name
    export(commit, tree)
    return Side(name, revision, commit, tree, python_for(tree, python))


def bench_run(side: Side, script: str, flags: list[str], log: Path) -> str:
    """One run of the side's own bench script; its output (also written to ``log``)."""
    command = [str(side.python), "-m", "core.services_probe", "exec", "--", str(side.python), f"bench/{script}.py"]
    environment = {**os.environ, "PYTHONPATH": str(side.tree)}
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 (our interpreter and the revision's own bench script)
        [*command, *flags],
        cwd=side.tree,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    log.write_text(result.stdout)
    status = "" if result.returncode == 0 else f", exit status {result.returncode}"
    print(f"   {side.name:<6} {script:<8} {time.perf_counter() - started:6.1f} s{status}  ({log})", flush=True)
    return result.stdout


def metric_value(output: str, metric: Metric) -> float:
    """The number on the metric's line under "Targets" (nan when the run did not print it)."""
    label, suffix = re.escape(metric.target_label), re.escape(metric.suffix)
    pattern = re.compile(rf"^\s+{label}[^\n]*?\s([0-9.]+){suffix}\s", re.M)  # the label may go on: "(10 x 80/s)"
    found = pattern.search(output)
    return float(found.group(1)) if found else math.nan


def run_round(sides: tuple[Side, Side], flags: dict[str, list[str]], logs: Path, number: int) -> None:
    for script in ("ingest", "dispatch"):
        for side in sides:
            output = bench_run(side, script, flags[script], logs / f"{number}-{script}-{side.name}.log")
            for metric in METRICS:
                if metric.script == script:
                    side.values.setdefault(metric.label, []).append(metric_value(output, metric))


def median(values: list[float]) -> float:
    measured = [value for value in values if not math.isnan(value)]
    return statistics.median(measured) if measured else math.nan


def print_table(before: Side, after: Side) -> None:
    print()
    print(f"before: {before.revision} ({before.commit[:12]}); after: {after.revision} ({after.commit[:12]})")
    print(f"{'metric':<34} {'before':>10} {'after':>10} {'after/before':>13}   rounds before | after")
    for metric in METRICS:
        old, new = before.values.get(metric.label, []), after.values.get(metric.label, [])
        ratio = median(new) / median(old) if median(old) else math.nan
        rounds = f"{number_list(old)} | {number_list(new)}"
        shown = format_metric(metric)
        print(f"{metric.label:<34} {shown(median(old)):>10} {shown(median(new)):>10} {ratio:>13.2f}   {rounds}")
    print("(medians of the rounds; nan: a run failed or did not print the figure, see its log)")


def format_metric(metric: Metric) -> Callable[[float], str]:
    if metric.suffix == "x":
        return lambda value: f"{value:.2f}x"
    return lambda value: f"{value:.0f}"


def number_list(values: list[float]) -> str:
    return " ".join(f"{value:.2f}" if value < 10 else f"{value:.0f}" for value in values)  # noqa: PLR2004


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare two revisions' ingest and dispatch benchmarks in one interleaved run."
    )
    parser.add_argument("before", help="a git revision: the baseline")
    parser.add_argument("after", help="a git revision: the change")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--ingest-seconds", type=float, default=2.0, help="ingest.py --seconds (default 2)")
    parser.add_argument("--ingest-rate", type=float, default=200.0, help="ingest.py --rate (default 200)")
    parser.add_argument("--batches", type=int, default=20, help="ingest.py --batches (default 20)")
    parser.add_argument("--messages", type=int, default=2000, help="dispatch.py --messages (default 2000)")
    parser.add_argument(
        "--dispatch-seconds",
        type=float,
        default=2.0,
        help="dispatch.py --paced-seconds (default 2)",
    )
    interpreter = ROOT / ".venv" / "bin" / "python"
    parser.add_argument("--python", type=Path, default=interpreter, help="the interpreter to reuse (.venv's)")
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.rounds <= 20:  # noqa: PLR2004
        parser.error("--rounds must be between 1 and 20")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench_compare_"))
    logs = Path(tempfile.mkdtemp(prefix="bench_compare_logs_"))
    flags = {
        "ingest": [
            *("--seconds", str(arguments.ingest_seconds), "--rate", str(arguments.ingest_rate)),
            *("--batches", str(arguments.batches)),
        ],
        "dispatch": [
            *("--messages", str(arguments.messages), "--paced-seconds", str(arguments.dispatch_seconds)),
        ],
    }
    try:
        before = prepare("before", arguments.before, work, arguments.python)
        after = prepare("after", arguments.after, work, arguments.python)
        print(f"ingest.py {' '.join(flags['ingest'])}; dispatch.py {' '.join(flags['dispatch'])}; logs in {logs}")
        for number in range(1, arguments.rounds + 1):
            print(f"Round {number} of {arguments.rounds}", flush=True)
            run_round((before, after), flags, logs, number)
        print_table(before, after)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"total {(time.perf_counter() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
