"""`manage.py audit verify [--chain <tenant uuid>|operator]`: recompute the audit hash chains."""

from __future__ import annotations

import argparse
import functools
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.models import OPERATOR_CHAIN
from audit.selectors import audit_chain_exists, audit_chain_names, audit_chain_verify
from audit.verify import ChainReport

BROKEN_EXIT_STATUS = 1
UNKNOWN_CHAIN_EXIT_STATUS = 2


class Command(BaseCommand):
    help = "Audit log tools. `audit verify` recomputes every hash chain and exits 1 when one is broken."

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True, metavar="subcommand")
        verify = subcommands.add_parser(
            "verify",
            help="recompute the hash chains and compare them with their heads",
            description="Print one line per chain; exit status 1 when any chain is broken, 2 for an unknown chain.",
        )
        verify.add_argument(
            "--chain", type=_chain_argument, help=f"a tenant uuid or {OPERATOR_CHAIN!r} (default: every chain)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "verify":
            self._verify(chain=options["chain"])

    def _verify(self, *, chain: str | None) -> None:
        if chain is not None and not audit_chain_exists(chain=chain):
            raise CommandError(f"no audit chain {chain!r}", returncode=UNKNOWN_CHAIN_EXIT_STATUS)
        chains = [chain] if chain is not None else audit_chain_names()
        if not chains:
            self.stdout.write("no audit chains yet")
        broken = 0
        for name in chains:
            report = audit_chain_verify(chain=name, progress=functools.partial(self._progress, name))
            self.stdout.write(report_line(report))
            broken += not report.is_intact
        if broken:
            raise CommandError(f"{broken} of {len(chains)} audit chains broken", returncode=BROKEN_EXIT_STATUS)

    def _progress(self, chain: str, count: int) -> None:
        self.stderr.write(f"chain {chain}: {count} events checked")


def report_line(report: ChainReport) -> str:
    if report.broken_at is None:
        return f"chain {report.chain}: {report.events} events OK"
    event = f"event {report.broken_at.event_id}" if report.broken_at.event_id else "no event row"
    return f"chain {report.chain}: BROKEN at seq {report.broken_at.seq} ({event}): {report.broken_at.reason}"


def _chain_argument(value: str) -> str:
    if value == OPERATOR_CHAIN:
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a tenant uuid or {OPERATOR_CHAIN!r}, got {value!r}") from None
