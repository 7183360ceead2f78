"""Fill the dashboard's hourly traffic rollup from the messages already stored (after an upgrade, or to repair)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from console.rollups import traffic_backfill, traffic_earliest


class Command(BaseCommand):
    help = "Recompute the hourly traffic rollup from the messages table (all of it, or the last --days days)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Only the last N days (default: every message).")
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        since = now - timedelta(days=options["days"]) if options["days"] is not None else traffic_earliest()
        counts = {"hours": 0, "rows": 0} if since is None else traffic_backfill(since=since, until=now)
        if options["json"]:
            self.stdout.write(json.dumps(counts))
        else:
            self.stdout.write(f"Recomputed {counts['hours']} tenant-hours into {counts['rows']} rollup rows.")
