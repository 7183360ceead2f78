"""``manage.py report transparency`` issues a tenant's transparency report; ``manage.py report verify`` checks a copy
(docs/transparency-reports.md)."""

from __future__ import annotations

import re
from argparse import ArgumentTypeError
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.actors import CLI_ACTOR
from console.reports.digest import CopyCheck, ReportCopyError, copy_check, json_copy_read
from console.reports.periods import PeriodError
from console.reports.selectors import period_choose, tenant_find
from console.reports.services import ReportFormat, transparency_report_issue

DIGEST = re.compile(r"^[0-9a-f]{64}$")
NOT_VERIFIED_EXIT_STATUS = 1


def digest_argument(value: str) -> str:
    if not DIGEST.match(value.strip().lower()):
        raise ArgumentTypeError("a digest is 64 hexadecimal characters (SHA-256)")
    return value.strip().lower()


class Command(BaseCommand):
    help = "Transparency reports: `report transparency` issues one, `report verify` checks a copy."

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True, metavar="subcommand")
        issue = subcommands.add_parser("transparency", help="issue a tenant's transparency report for a period")
        issue.add_argument("--tenant", required=True, help="the tenant's slug or id")
        issue.add_argument("--period", help="YYYY-MM (a month) or YYYY-Qn (a quarter), UTC")
        issue.add_argument("--from", dest="first", help="first day, YYYY-MM-DD (with --to; both days included)")
        issue.add_argument("--to", dest="last", help="last day, YYYY-MM-DD")
        issue.add_argument("--format", choices=[choice.value for choice in ReportFormat], default=ReportFormat.PDF)
        issue.add_argument("--output", required=True, type=Path, help="the file to write")
        verify = subcommands.add_parser("verify", help="check a copy of a report against the audit chain")
        source = verify.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", type=Path, help="a JSON copy: its figures are hashed again")
        source.add_argument("--digest", type=digest_argument, help="the digest printed in a PDF or HTML copy")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "transparency":
            self._transparency(options)
        else:
            self._verify(file=options["file"], digest=options["digest"])

    def _transparency(self, options: dict[str, Any]) -> None:
        tenant = tenant_find(key=options["tenant"])
        if tenant is None:
            raise CommandError(f"no tenant with slug or id {options['tenant']!r}")
        try:
            period = period_choose(period=options["period"], first=options["first"], last=options["last"])
        except PeriodError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(f"computing the figures of {tenant.slug} for {period.label}…")
        issued = transparency_report_issue(
            tenant=tenant, period=period, output_format=ReportFormat(options["format"]), actor=CLI_ACTOR
        )
        self.stderr.write(f"digest recorded as event {issued.audit_seq} of the tenant's audit chain")
        try:
            options["output"].write_bytes(issued.body)
        except OSError as error:
            raise CommandError(f"cannot write {options['output']}: {error.strerror}") from None
        self.stderr.write(f"wrote {len(issued.body):,} bytes to {options['output']}")
        self.stdout.write(issued.digest)

    def _verify(self, *, file: Path | None, digest: str | None) -> None:
        document = None
        if file is not None:
            try:
                digest, document = json_copy_read(file.read_bytes())
            except OSError as error:
                raise CommandError(f"cannot read {file}: {error.strerror}") from None
            except ReportCopyError as error:
                raise CommandError(str(error)) from None
        if digest is None:  # argparse requires --file or --digest
            raise CommandError("give --file or --digest")
        check = copy_check(digest=digest, document=document)
        for line in verdict_lines(check):
            self.stdout.write(line)
        if not _is_verified(check):
            raise CommandError("the copy is NOT verified", returncode=NOT_VERIFIED_EXIT_STATUS)


def verdict_lines(check: CopyCheck) -> list[str]:
    lines = [f"digest {check.digest}"]
    if check.figures_match is not None:
        lines.append("figures match the digest" if check.figures_match else "figures do NOT match the digest")
    if check.issued is None:
        lines.append("no issuance of this digest in the audit chains")
    else:
        event = check.issued
        lines.append(
            f"issued {event.occurred_at.isoformat()} for period {event.details.get('period')} "
            f"as event {event.seq} of chain {event.chain}"
        )
        lines.append("audit chain intact" if check.chain_intact else "audit chain BROKEN")
    return lines


def _is_verified(check: CopyCheck) -> bool:
    return check.figures_match is not False and check.issued is not None and bool(check.chain_intact)
