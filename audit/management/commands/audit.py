"""`manage.py audit verify [--chain <tenant uuid>|operator]`: recompute the audit hash chains; `audit checkpoint`,
`audit checkpoint-key` and `audit verify-checkpoints --dir` for the signed checkpoints (docs/audit.md)."""

from __future__ import annotations

import argparse
import functools
import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.checkpoints.offline import CheckpointsReport, checkpoints_verify_dir
from audit.checkpoints.selectors import checkpoint_public_key, checkpoint_public_keys
from audit.checkpoints.services import checkpoints_write_advanced
from audit.checkpoints.signer import checkpoint_signing
from audit.models import OPERATOR_CHAIN
from audit.selectors import audit_chain_exists, audit_chain_names, audit_chain_verify
from audit.verify import BreakReason, ChainReport

BROKEN_EXIT_STATUS = 1
UNKNOWN_CHAIN_EXIT_STATUS = 2


class Command(BaseCommand):
    help = (
        "Audit log tools. `audit verify` recomputes every hash chain and exits 1 when one is broken; `audit "
        "checkpoint` signs and exports checkpoints; `audit checkpoint-key` prints the public key; `audit "
        "verify-checkpoints --dir` checks exported checkpoint files without the database."
    )

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

        _checkpoint_parsers(subcommands)

    def handle(self, *args: Any, **options: Any) -> None:
        subcommand = options["subcommand"]
        if subcommand == "verify":
            self._verify(chain=options["chain"])
        elif subcommand == "checkpoint":
            counts = checkpoints_write_advanced()
            self.stdout.write(f"{counts['written']} checkpoints written, {counts['refused']} chains refused")
            if counts["refused"]:
                raise CommandError("some chains do not verify; see `audit verify`", returncode=BROKEN_EXIT_STATUS)
        elif subcommand == "checkpoint-key":
            public_key = checkpoint_public_key()
            self.stdout.write(f"{public_key}\nkey id {checkpoint_signing().key_id_of(public_key)}")
        elif subcommand == "verify-checkpoints":
            self._verify_checkpoints(directory=options["dir"], public_keys=options["public_key"])

    def _verify_checkpoints(self, *, directory: Path, public_keys: list[str] | None) -> None:
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a folder", returncode=UNKNOWN_CHAIN_EXIT_STATUS)
        keys = public_keys or checkpoint_public_keys()
        for key in keys:
            try:
                checkpoint_signing().key_id_of(key)
            except ValueError as error:
                raise CommandError(f"--public-key: {error}", returncode=UNKNOWN_CHAIN_EXIT_STATUS) from None
        reports = checkpoints_verify_dir(directory=directory, public_keys=keys)
        if not reports:
            self.stdout.write("no checkpoint files")
        for report in reports:
            self.stdout.write(checkpoints_line(report))
        broken = sum(not report.is_intact for report in reports)
        if broken:
            raise CommandError(f"{broken} of {len(reports)} checkpoint chains broken", returncode=BROKEN_EXIT_STATUS)

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


CHECKPOINT_HINTS = {
    BreakReason.CHECKPOINT_MISSING: "events up to here were removed and no checkpoint file here vouches for them",
    BreakReason.CHECKPOINT_INVALID: "the checkpoint file here is changed or not signed by this key",
}


def report_line(report: ChainReport) -> str:
    if report.broken_at is None:
        return f"chain {report.chain}: {report.events} events OK"
    event = f"event {report.broken_at.event_id}" if report.broken_at.event_id else "no event row"
    line = f"chain {report.chain}: BROKEN at seq {report.broken_at.seq} ({event}): {report.broken_at.reason}"
    hint = CHECKPOINT_HINTS.get(report.broken_at.reason)
    return f"{line} ({hint})" if hint else line


def checkpoints_line(report: CheckpointsReport) -> str:
    if report.problem is None:
        return f"chain {report.chain}: {report.checkpoints} checkpoints OK, up to seq {report.last_seq}"
    return f"chain {report.chain}: BROKEN after {report.checkpoints} checkpoints: {report.problem}"


def _checkpoint_parsers(subcommands: Any) -> None:
    subcommands.add_parser(
        "checkpoint",
        help="sign and export a checkpoint at the head of every chain that advanced",
        description="What the hourly beat job does. Exit status 1 when a chain does not verify (nothing is signed "
        "for it).",
    )
    subcommands.add_parser(
        "checkpoint-key",
        help="print the public key that checks checkpoint signatures, and its id",
        description="Give this to whoever verifies the exported checkpoint files (`verify-checkpoints`).",
    )
    offline = subcommands.add_parser(
        "verify-checkpoints",
        help="check a folder of checkpoint files with the public key alone (no database)",
        description="Checks every file's form and signature and each chain's checkpoints in order (no gap, each "
        "naming its predecessor's digest). Exit status 1 when any is broken, 2 for a bad folder or key.",
    )
    offline.add_argument("--dir", type=Path, required=True, help="the exported folder (GATEWAY_AUDIT_CHECKPOINT_DIR)")
    offline.add_argument(
        "--public-key",
        action="append",
        help="ed25519:<base64url>, as `checkpoint-key` prints it; repeat it for the keys of earlier signing keys "
        "(default: this installation's, and GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEYS)",
    )


def _chain_argument(value: str) -> str:
    if value == OPERATOR_CHAIN:
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a tenant uuid or {OPERATOR_CHAIN!r}, got {value!r}") from None
