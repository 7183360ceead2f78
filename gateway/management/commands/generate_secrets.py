from __future__ import annotations

import os
import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from gateway.env import new_root_key_entry, new_signing_key

SECRET_NAMES = ("DJANGO_SECRET_KEY", "GATEWAY_AUDIT_KEY", "GATEWAY_API_KEY_PEPPER")


class Command(BaseCommand):
    help = (
        "Generate the secrets a production gateway needs (see deploy/production.env.example). Without "
        "--dir they are printed as environment lines; with --dir each is written to its own file "
        "(mode 0600) for the *_FILE variables. Existing files are never overwritten."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dir", type=Path, help="write one file per secret into this directory")

    def handle(self, *args: Any, **options: Any) -> None:
        values = {name: secrets.token_urlsafe(64) for name in SECRET_NAMES}
        values["GATEWAY_ROOT_KEYS"] = new_root_key_entry(1)
        values["GATEWAY_AUDIT_SIGNING_KEY"] = new_signing_key()
        directory: Path | None = options["dir"]
        if directory is None:
            self.stdout.write("\n".join(f"{name}={value}" for name, value in values.items()))
            return
        directory.mkdir(parents=True, exist_ok=True)
        for name, value in values.items():
            self._write(directory / name.lower(), value)
            self.stdout.write(f"{name}_FILE={directory / name.lower()}")

    def _write(self, path: Path, value: str) -> None:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists; refusing to overwrite a secret") from None
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
