"""The admin dashboard with a million messages: its render time against a trivial admin page's, in the same run.

1. Seed ``--messages`` messages (default 1,000,000) over 30 days for two tenants and eight channels, written by
   PostgreSQL itself (``INSERT … SELECT generate_series``), in a throwaway database (``bench_dashboard_<pid>``).
2. Fill the hourly traffic rollup with ``manage.py traffic_backfill`` (timed: the cost of an upgrade's backfill).
3. Fetch ``/admin/`` (the dashboard) and an empty changelist (``/admin/policies/legalhold/``: the admin's fixed
   cost) ``--samples`` times each, interleaved, with one verified operator session. Target: median dashboard /
   median baseline <= 4. Also printed: the dashboard's number of queries (the tests pin that it does not grow).

The exit status is 0 even when the target fails, unless ``--strict`` is given.

    make bench
    .venv/bin/python -m core.services_probe exec -- .venv/bin/python bench/dashboard.py --messages 100000
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _dashboard.measure import BASELINE_URL, measure
from _dashboard.seed import seed
from _lib.database import describe_database
from _lib.environment import ROOT, django_setup, throwaway_database
from _lib.report import Verdict, print_targets

TARGET_RATIO = 4.0


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages seeded (default 1,000,000)")
    parser.add_argument("--samples", type=int, default=21, help="fetches of each page (default 21)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target fails")
    arguments = parser.parse_args(argv)
    if not 1_000 <= arguments.messages <= 20_000_000:  # noqa: PLR2004
        parser.error("--messages must be between 1,000 and 20,000,000")
    if not 3 <= arguments.samples <= 501:  # noqa: PLR2004
        parser.error("--samples must be between 3 and 501")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("Dashboard (bench/dashboard.py): needs PostgreSQL (DATABASE_URL); run it through `make bench` or")
        print("`python -m core.services_probe exec -- ...`. Nothing measured.")
        return 1 if arguments.strict else 0
    with throwaway_database(f"bench_dashboard_{os.getpid()}") as database_url:
        return run(arguments, database_url, started)


def run(arguments: argparse.Namespace, database_url: str, started: float) -> int:
    variables = {"DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "gateway.settings"}
    django_setup(variables, [ROOT])
    import django
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    print("Dashboard: render time with many messages vs an empty admin changelist (bench/dashboard.py)")
    print(f"Python {platform.python_version()}, Django {django.get_version()}, {os.cpu_count()} CPUs")
    print(f"Database: {describe_database()}")
    seeded = seed(arguments.messages)
    print(f"Seeded {seeded.messages:,} messages in {seeded.conversations} conversations in {seeded.seconds:.1f} s")
    backfill_started = time.perf_counter()
    output = StringIO()
    call_command("traffic_backfill", stdout=output)
    print(f"traffic_backfill: {output.getvalue().strip()} ({time.perf_counter() - backfill_started:.1f} s)")
    measured = measure(arguments.samples)
    print(f"Dashboard /admin/: median {measured.dashboard_median * 1000:.1f} ms, {measured.dashboard_queries} queries")
    print(f"Baseline {BASELINE_URL}: median {measured.baseline_median * 1000:.1f} ms ({measured.samples} samples each)")
    verdict = Verdict(
        "dashboard / empty changelist",
        f"{measured.ratio:.2f}x",
        f"<= {TARGET_RATIO:g}x",
        measured.ratio <= TARGET_RATIO,
    )
    return print_targets([verdict], (30, 8, 8), strict=arguments.strict, started=started)


if __name__ == "__main__":
    sys.exit(main())
