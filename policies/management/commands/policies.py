"""``manage.py policies <subcommand>``: retention operations for operators (docs/retention.md).

Each subcommand is a parser added in ``add_arguments`` and a ``_<name>`` method taking the options.
"""

from __future__ import annotations

import json
import sys
import uuid
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from accounts.models import Tenant
from policies.retention.purge import (
    BATCH_SIZE,
    DEFAULT_DUTY,
    DEFAULT_WAL_MB_PER_SECOND,
    PurgeOutcome,
    retention_purge,
    retention_purge_preview,
)
from policies.subjects.commands import erase_run, export_run, subject_parsers_add

MAX_BATCH_SIZE = 10_000


def batch_size_argument(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_BATCH_SIZE:
        raise ArgumentTypeError(f"must be a whole number from 1 to {MAX_BATCH_SIZE:,}, got {value!r}")
    return int(value)


def duty_argument(value: str) -> float:
    try:
        duty = float(value)
    except ValueError:
        duty = 0.0
    if not 0 < duty <= 1:
        raise ArgumentTypeError(f"must be a share of the time above 0 and at most 1 (e.g. 0.5), got {value!r}")
    return duty


def wal_rate_argument(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not rate >= 0:
        raise ArgumentTypeError(f"must be MB of WAL per second, 0 or more (0: no limit), got {value!r}")
    return rate


def seconds_argument(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")
    return seconds


class Command(BaseCommand):
    help = "Retention operations: purge expired data (or preview it with --dry-run); export or erase a contact."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        purge = commands.add_parser(
            "purge",
            help="remove expired content, media, raw deliveries and message rows now, in short batches, then "
            "schedule the destruction of past day keys (the beat job does this every minute)",
        )
        purge.add_argument("--dry-run", action="store_true", help="count what would go, per tenant and kind")
        purge.add_argument("--json", action="store_true", help="print the counts as JSON")
        purge.add_argument("--batch-size", type=batch_size_argument, default=BATCH_SIZE, help="rows per batch")
        purge.add_argument("--max-seconds", type=seconds_argument, help="stop after this long (the run is incomplete)")
        purge.add_argument(
            "--duty",
            type=duty_argument,
            default=DEFAULT_DUTY,
            help=f"share of the time spent working; pauses between batches leave the rest to ingest "
            f"(default {DEFAULT_DUTY}; 1: no pauses)",
        )
        purge.add_argument(
            "--wal-rate",
            type=wal_rate_argument,
            default=DEFAULT_WAL_MB_PER_SECOND,
            metavar="MB_PER_SECOND",
            help=f"pause between batches so that the database writes at most this much WAL per second: every "
            f"webhook's commit waits for the WAL (PostgreSQL; default {DEFAULT_WAL_MB_PER_SECOND}; 0: no limit)",
        )
        subject_parsers_add(commands)  # export, erase

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _export(self, options: dict[str, Any]) -> None:
        export_run(options, self.stdout)

    def _erase(self, options: dict[str, Any]) -> None:
        erase_run(options, self.stdout)

    def _purge(self, options: dict[str, Any]) -> None:
        now = timezone.now()
        if options["dry_run"]:
            outcome = retention_purge_preview(now=now)
        else:
            outcome = retention_purge(
                now=now,
                batch_size=options["batch_size"],
                max_seconds=options["max_seconds"],
                duty=options["duty"],
                wal_mb_per_second=options["wal_rate"],
                progress=None if options["json"] else _progress_printer(),
                actor_label="cli",
            )
            if not options["json"]:
                sys.stderr.write("\n")
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(outcome), indent=2))
        else:
            self.stdout.write(_as_text(outcome))


def _progress_printer() -> Any:
    shown: dict[str, int] = {}

    def report(kind: str, done: int) -> None:
        if shown and kind not in shown:
            sys.stderr.write("\n")
        shown[kind] = done
        sys.stderr.write(f"\r  {kind}: {done:,}")
        sys.stderr.flush()

    return report


def _tenant_labels(outcome: PurgeOutcome) -> dict[uuid.UUID | None, str]:
    ids = {tenant_id for tenant_id, _ in outcome.tally if tenant_id is not None}
    labels: dict[uuid.UUID | None, str] = {None: "(no tenant: shared apps, operator keys)"}
    labels.update(dict(Tenant.objects.filter(pk__in=ids).values_list("pk", "slug")))
    return labels


def _rows(outcome: PurgeOutcome) -> list[tuple[uuid.UUID | None, str, int]]:
    ordered = sorted(outcome.tally.items(), key=lambda item: (str(item[0][0] or ""), item[0][1]))
    return [(tenant_id, kind, count) for (tenant_id, kind), count in ordered if count]


def _as_json(outcome: PurgeOutcome) -> dict[str, Any]:
    labels = _tenant_labels(outcome)
    return {
        "run_id": str(outcome.run.pk),
        "dry_run": outcome.run.dry_run,
        "complete": outcome.complete,
        "counts": [
            {
                "tenant_id": str(tenant_id) if tenant_id else None,
                "tenant": labels.get(tenant_id, ""),
                "kind": kind,
                "count": count,
            }
            for tenant_id, kind, count in _rows(outcome)
        ],
        "totals": outcome.totals(),
    }


def _as_text(outcome: PurgeOutcome) -> str:
    labels = _tenant_labels(outcome)
    verb = "would go (dry run: nothing changed)" if outcome.run.dry_run else "went"
    lines = [f"Purge run {outcome.run.pk}: what {verb}"]
    rows = _rows(outcome)
    lines.extend(
        f"  {labels.get(tenant_id, str(tenant_id)):<40} {kind:<14} {count:>12,}" for tenant_id, kind, count in rows
    )
    if not rows:
        lines.append("  nothing is due")
    totals = ", ".join(f"{kind} {count:,}" for kind, count in outcome.totals().items() if count)
    lines.append(f"Total: {totals or 'nothing'}")
    if not outcome.complete:
        lines.append("Stopped before everything due was removed (time limit or a busy lock): run it again.")
    return "\n".join(lines)
