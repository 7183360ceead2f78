from __future__ import annotations

import json
import sys
import time
import uuid
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from encryption import services
from encryption.errors import EncryptionError
from encryption.models import OPERATOR, ROTATING_PURPOSES, DataKey, KeyEncryptionKey, KeyState


def progress_printer(label: str) -> services.Progress:
    def report(done: int, total: int) -> None:
        share = f" ({100 * done // total}%)" if total else ""
        sys.stderr.write(f"\r  {label} {done:,}/{total:,}{share}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report


def owner_argument(value: str) -> str:
    if value == OPERATOR:
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CommandError(f"--owner must be a tenant id (UUID) or {OPERATOR!r}, got {value!r}") from None


class Command(BaseCommand):
    help = "Operate the encryption key store: status, rotate, destroy, verify (docs/encryption.md)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        status = commands.add_parser("status", help="keys per owner and purpose: versions, states, rows per key")
        status.add_argument("--owner", type=owner_argument, help="a tenant id or 'operator'")
        status.add_argument("--json", action="store_true")
        rotate = commands.add_parser(
            "rotate", help="rotate data keys (re-encrypting rows), a KEK (re-wrapping keys) or the root"
        )
        target = rotate.add_mutually_exclusive_group(required=True)
        target.add_argument("--purpose", choices=sorted(ROTATING_PURPOSES), help="rotate data keys of this purpose")
        target.add_argument("--kek", action="store_true", help="rotate the owner's KEK; data rows are not touched")
        target.add_argument("--root", action="store_true", help="re-wrap every KEK under the newest root version")
        rotate.add_argument("--owner", type=owner_argument, help="a tenant id or 'operator'")
        rotate.add_argument("--scope", help="only the key of this scope (e.g. one contact)")
        rotate.add_argument(
            "--resume",
            action="store_true",
            help="do not make new versions; finish re-encrypting rows still under old ones",
        )
        rotate.add_argument("--batch-size", type=int, default=services.DEFAULT_BATCH)
        destroy = commands.add_parser("destroy", help="destroy a data key (crypto-shredding), with a receipt")
        destroy.add_argument("key_id", type=int)
        destroy.add_argument(
            "--no-wait",
            action="store_true",
            help="only schedule; the beat job destroys it once every cache has expired",
        )
        commands.add_parser("verify", help="every live key opens its canary; every destroyed key does not")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except EncryptionError as error:
            raise CommandError(str(error)) from None

    def _status(self, options: dict[str, Any]) -> None:
        keys = DataKey.objects.order_by("owner", "purpose", "scope", "version")
        if options["owner"]:
            keys = keys.filter(owner=options["owner"])
        rows = services.rows_per_key()
        table = [
            {
                "key_id": key.pk,
                "owner": key.owner,
                "purpose": key.purpose,
                "scope": key.scope,
                "version": key.version,
                "state": key.state,
                "rows": rows.get(key.pk, 0),
                "destroy_after": key.destroy_after.isoformat() if key.destroy_after else None,
            }
            for key in keys
        ]
        if options["json"]:
            self.stdout.write(json.dumps(table, indent=2))
            return
        self.stdout.write(f"{'key':>6}  {'owner':<36}  {'purpose':<11}  {'scope':<24}  {'v':>3}  {'state':<15}  rows")
        for row in table:
            self.stdout.write(
                f"{row['key_id']:>6}  {row['owner']:<36}  {row['purpose']:<11}  {str(row['scope'])[:24]:<24}  "
                f"{row['version']:>3}  {row['state']:<15}  {row['rows']:,}"
            )
        keks = KeyEncryptionKey.objects.exclude(state=KeyState.DESTROYED).order_by("owner")
        self.stdout.write(
            f"\n{keks.count()} live KEK(s); newest root version in use: "
            f"{max((kek.root_version for kek in keks), default='-')}"
        )

    def _rotate(self, options: dict[str, Any]) -> None:
        if options["root"]:
            count = services.root_rewrap(progress=progress_printer("re-wrapped KEKs"))
            self.stdout.write(self.style.SUCCESS(f"Re-wrapped {count} KEK(s) under the newest root version."))
            return
        if not options["owner"]:
            raise CommandError("--owner is required with --purpose and --kek")
        if options["kek"]:
            count = services.kek_rotate(
                owner=options["owner"], actor_label="cli", progress=progress_printer("re-wrapped data keys")
            )
            self.stdout.write(self.style.SUCCESS(f"New KEK for {options['owner']}; {count} data key(s) re-wrapped."))
            return
        self._rotate_data_keys(options)

    def _rotate_data_keys(self, options: dict[str, Any]) -> None:
        owner, purpose = options["owner"], options["purpose"]
        if not options["resume"]:
            replaced = services.data_keys_rotate(
                owner=owner, purpose=purpose, scope=options["scope"], actor_label="cli"
            )
            self.stdout.write(f"New versions for {len(replaced)} key(s); waiting for other writers to switch...")
            services.wait_for_writers()
        old = DataKey.objects.filter(owner=owner, purpose=purpose, state=KeyState.DECRYPT_ONLY)
        if options["scope"]:
            old = old.filter(scope=options["scope"])
        old_ids = list(old.values_list("pk", flat=True))
        count = services.rows_reencrypt(
            key_ids=old_ids, batch_size=options["batch_size"], progress=progress_printer("re-encrypted rows")
        )
        left = sum(services.rows_per_key().get(key_id, 0) for key_id in old_ids)
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count:,} row(s); {left} left on old versions."))
        if left:
            raise CommandError("rows remain on old key versions; run again with --resume")

    def _destroy(self, options: dict[str, Any]) -> None:
        key = DataKey.objects.filter(pk=options["key_id"]).first()
        if key is None:
            raise CommandError(f"no key with id {options['key_id']}")
        key = services.data_key_schedule_destroy(key=key)
        if options["no_wait"]:
            self.stdout.write(f"Key {key.pk} will be destroyed at {key.destroy_after:%Y-%m-%d %H:%M:%S} UTC.")
            return
        while (remaining := (key.destroy_after - timezone.now()).total_seconds()) > 0:  # type: ignore[operator]
            sys.stderr.write(f"\r  waiting {remaining:4.0f} s for every process's key cache to expire")
            time.sleep(min(1.0, remaining))
        sys.stderr.write("\n")
        key = services.data_key_destroy_now(key=key, actor_label="cli")
        self.stdout.write(self.style.SUCCESS(f"Key {key.pk} destroyed. Receipt:"))
        self.stdout.write(json.dumps(key.receipt, indent=2))

    def _verify(self, options: dict[str, Any]) -> None:
        checked, problems = services.keys_verify()
        for problem in problems:
            self.stdout.write(self.style.ERROR(f"key {problem.key_id}: {problem.problem}"))
        if problems:
            raise CommandError(f"{len(problems)} of {checked} key(s) failed verification")
        self.stdout.write(self.style.SUCCESS(f"{checked} key(s) verified."))
