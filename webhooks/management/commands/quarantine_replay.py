from __future__ import annotations

import json
import uuid
from argparse import ArgumentParser, RawDescriptionHelpFormatter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.actors import CLI_ACTOR
from webhooks.quarantine import (
    ALREADY_REPLAYED,
    REPLAYED,
    STILL_QUARANTINED,
    QuarantineReplayError,
    quarantined_item_replay,
    quarantined_items_pending,
)

EPILOG = """\
Each item is parsed again from its raw webhook delivery and stored through the normal inbound code, routed
by the Meta app the delivery arrived on (never another tenant's). Typical use: a channel was added after
Meta had already started sending its webhooks.

outcomes:
  replayed            the item routed now and was stored; it is marked replayed
  still_quarantined   no channel claims it yet (or it is still unreadable); it is kept as it was
  already_replayed    replayed before; nothing done
  error               its raw delivery is gone or cannot be opened any more (retention)

The exit status is 1 when any item ended in an error. Every replay is written to the audit log.

examples:
  manage.py quarantine_replay --all
  manage.py quarantine_replay --id 6f1c... --id 93ab... --json   (progress on stderr, JSON on stdout)
"""


def _item_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(f"--id {value!r} is not a quarantined item id (a UUID)") from None


class Command(BaseCommand):
    help = "Replay quarantined webhook items now that a channel may claim them."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        return super().create_parser(
            prog_name, subcommand, epilog=EPILOG, formatter_class=RawDescriptionHelpFormatter, **kwargs
        )

    def add_arguments(self, parser: ArgumentParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--id", dest="ids", action="append", metavar="ID", help="a quarantined item id (repeat for several)"
        )
        which.add_argument("--all", action="store_true", help="every item not replayed yet, oldest first")
        parser.add_argument("--json", action="store_true", help="print one JSON document with every result")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"]:
            ids = list(quarantined_items_pending().values_list("pk", flat=True))
        else:
            ids = list(dict.fromkeys(_item_id(value) for value in options["ids"]))
        if not ids and not options["json"]:
            self.stdout.write("Nothing to replay.")
            return
        results = [
            self._replay(item_id, position, len(ids), quiet=options["json"])
            for position, item_id in enumerate(ids, start=1)
        ]
        totals = {
            outcome: sum(1 for result in results if result["outcome"] == outcome)
            for outcome in (REPLAYED, STILL_QUARANTINED, ALREADY_REPLAYED, "error")
        }
        if options["json"]:
            self.stdout.write(json.dumps({"items": results, "totals": totals}))
        else:
            self.stdout.write(", ".join(f"{count} {outcome}" for outcome, count in totals.items()))
        if totals["error"]:
            raise CommandError(f"{totals['error']} item(s) could not be replayed", returncode=1)

    def _replay(self, item_id: uuid.UUID, position: int, total: int, *, quiet: bool) -> dict[str, str]:
        try:
            result = quarantined_item_replay(item_id=item_id, actor=CLI_ACTOR)
        except QuarantineReplayError as error:
            row = {"id": str(item_id), "outcome": "error", "detail": str(error)}
            line = self.style.ERROR(f"error: {error}")
        else:
            row = {"id": str(item_id), "outcome": result.outcome, "detail": result.detail}
            style = self.style.SUCCESS if result.outcome == REPLAYED else self.style.WARNING
            line = style(result.message)
        progress = self.stderr if quiet else self.stdout  # with --json, stdout carries the document only
        progress.write(f"[{position}/{total}] {item_id}: {line}")
        return row
