from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.errors import MessagingError
from messaging.message_templates import SyncResult, templates_sync, templates_sync_all


class Command(BaseCommand):
    help = (
        "Sync WhatsApp message templates from Meta (Graph /<waba_id>/message_templates): every WhatsApp Business "
        "Account that has a WhatsApp channel, or one with --tenant and --waba-id (audited). Each account's rows "
        "become what Meta lists: new ones added, known ones updated (status, quality, components), the rest removed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", help="the tenant's slug (with --waba-id)")
        parser.add_argument("--waba-id", help="one WhatsApp Business Account id (with --tenant)")
        parser.add_argument("--json", action="store_true", help="print one JSON line per account")

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["tenant"]) != bool(options["waba_id"]):
            raise CommandError("give --tenant and --waba-id together, or neither to sync every account")
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"no tenant {options['tenant']!r}")
            try:
                result = templates_sync(tenant=tenant, waba_id=options["waba_id"], actor=CLI_ACTOR)
            except MessagingError as error:
                raise CommandError(str(error)) from None
            self._progress(f"{tenant.slug}/{result.waba_id}", result, as_json=options["json"])
            return
        failures: list[str] = []

        def progress(account: str, outcome: SyncResult | MessagingError) -> None:
            if isinstance(outcome, MessagingError):
                failures.append(account)
            self._progress(account, outcome, as_json=options["json"])

        synced = templates_sync_all(progress=progress)
        if not options["json"]:
            self.stdout.write(f"{synced} account(s) synced, {len(failures)} failed.")
        if failures:
            raise CommandError(f"the sync failed for {', '.join(failures)}")

    def _progress(self, account: str, outcome: SyncResult | MessagingError, *, as_json: bool) -> None:
        if isinstance(outcome, MessagingError):
            if as_json:
                self.stdout.write(json.dumps({"account": account, "error": str(outcome)}))
            else:
                self.stderr.write(f"{account}: {outcome}")
            return
        counts = {"created": outcome.created, "updated": outcome.updated, "removed": outcome.removed}
        if as_json:
            self.stdout.write(json.dumps({"account": account, **counts}))
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{account}: {outcome.created} new, {outcome.updated} updated, {outcome.removed} removed."
                )
            )
