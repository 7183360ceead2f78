from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from messaging.public_types import DEFAULT_BATCH_SIZE, FillProgress, public_types_fill

MAX_BATCH_SIZE = 10_000


class Command(BaseCommand):
    help = (
        "Give messages written before the public type was stored their type in the public vocabulary (what "
        "`GET /api/v1/messages/?type=` filters on), reading each one's content. Only Messenger and Instagram "
        "messages and attachment sends need it after the upgrade; safe to stop and run again."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help=f"rows per batch (default {DEFAULT_BATCH_SIZE})"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size is between 1 and {MAX_BATCH_SIZE}")
        filled = public_types_fill(batch_size=batch_size, progress=self._progress)
        self.stdout.write(self.style.SUCCESS(f"{filled} messages given their public type."))

    def _progress(self, progress: FillProgress) -> None:
        self.stdout.write(f"{progress.filled} filled, {progress.remaining} to go")
