"""``manage.py policies export`` and ``policies erase``: subject rights for operators (docs/retention.md).

Both take the contact's id (its tenant follows from it), print progress on stderr and a summary (or ``--json``)
on stdout, and are audited like the admin and the API (actor "cli").
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from argparse import ArgumentTypeError, _SubParsersAction
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser, OutputWrapper
from django.db import OperationalError

from accounts.actors import CLI_ACTOR
from messaging.models import Contact
from policies.models import SubjectExport
from policies.subjects.erasure import ErasureRefusedError, contact_erase
from policies.subjects.export import (
    SubjectExportRunningError,
    SubjectExportUnavailableError,
    subject_export_build,
    subject_export_open,
    subject_export_request,
)


def contact_argument(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ArgumentTypeError(f"must be a contact id (UUID), got {value!r}") from None


def subject_parsers_add(commands: _SubParsersAction[CommandParser]) -> None:
    export = commands.add_parser(
        "export", help="export everything about one contact as a zip (built now; --out writes it, unencrypted)"
    )
    export.add_argument("--contact", type=contact_argument, required=True, help="the contact's id")
    export.add_argument("--out", type=Path, help="write the zip here (mode 0600); without it, only the export row")
    export.add_argument("--json", action="store_true", help="print the outcome as JSON")
    erase = commands.add_parser(
        "erase", help="erase one contact: rows, media, subject key; a tombstone and an audited receipt stay"
    )
    erase.add_argument("--contact", type=contact_argument, required=True, help="the contact's id")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.add_argument("--json", action="store_true", help="print the tombstone as JSON")


def _contact(contact_id: uuid.UUID) -> Contact:
    contact: Contact | None = Contact.objects.select_related("tenant").filter(pk=contact_id).first()
    if contact is None:
        raise CommandError(f"No contact {contact_id} (erased, or never there).")
    return contact


def export_run(options: dict[str, Any], stdout: OutputWrapper) -> None:
    contact = _contact(options["contact"])
    try:
        export = subject_export_request(tenant=contact.tenant, contact=contact, actor=CLI_ACTOR, enqueue=False)
    except SubjectExportRunningError as running:
        raise CommandError(f"Export {running.export_id} of contact {contact.pk} is still under way.") from None
    sys.stderr.write(f"  building the archive of contact {contact.pk}…\n")
    outcome = subject_export_build(export_id=export.pk)
    export.refresh_from_db()
    if outcome != "ready":
        raise CommandError(f"Export {export.pk} {export.status}: {export.error_code or outcome}.")
    written = _write(export, options["out"]) if options["out"] else None
    summary = {
        "export_id": str(export.pk),
        "contact_id": str(contact.pk),
        "status": export.status,
        "size": export.size,
        "expires_at": export.expires_at.isoformat(),
        "out": str(written) if written else None,
    }
    if options["json"]:
        stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    where = f"written to {written}" if written else "download it from the admin (Subject exports) or the API"
    stdout.write(f"Export {export.pk}: {export.size:,} bytes, {where}; the archive expires {summary['expires_at']}.\n")


def _write(export: SubjectExport, out: Path) -> Path:
    try:
        data = subject_export_open(export=export, actor=CLI_ACTOR)
    except SubjectExportUnavailableError as error:
        raise CommandError(error.detail) from None
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as target:
        target.write(data)
    return out


def erase_run(options: dict[str, Any], stdout: OutputWrapper) -> None:
    contact = _contact(options["contact"])
    if not options["yes"]:
        if not sys.stdin.isatty():
            raise CommandError("Erasing cannot be undone: confirm with --yes (no terminal to ask on).")
        sys.stderr.write(f"Erase contact {contact.pk} of tenant {contact.tenant.slug}? This cannot be undone. [y/N] ")
        if sys.stdin.readline().strip().lower() not in {"y", "yes"}:
            raise CommandError("Not erased.")
    try:
        tombstone = contact_erase(tenant=contact.tenant, contact=contact, actor=CLI_ACTOR, progress=_progress)
    except ErasureRefusedError as refusal:
        raise CommandError(refusal.detail) from None
    except OperationalError:
        raise CommandError("A lock was busy; what is done stays done: run the same command again.") from None
    sys.stderr.write("\n")
    if options["json"]:
        document = {
            "contact_id": str(tombstone.contact_id),
            "erased_at": tombstone.erased_at.isoformat(),
            "counts": tombstone.counts,
            "receipt_sha256": tombstone.receipt_sha256,
        }
        stdout.write(json.dumps(document, indent=2) + "\n")
        return
    counts = ", ".join(f"{kind} {count:,}" for kind, count in sorted(tombstone.counts.items()) if count)
    stdout.write(f"Erased contact {tombstone.contact_id}: {counts}. Receipt SHA-256 {tombstone.receipt_sha256}.\n")


def _progress(kind: str, done: int) -> None:
    sys.stderr.write(f"\r  {kind}: {done:,}")
    sys.stderr.flush()
