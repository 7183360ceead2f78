from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.actors import CLI_ACTOR
from accounts.apikeys import api_key_get_by_reference, api_key_revoke
from accounts.models import ApiKey


class Command(BaseCommand):
    help = "Revoke an API key at once. Revoking an already revoked key changes nothing."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("reference", help="the key's id (10 characters), prefix (gw_<env>_<id>) or uuid")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            api_key = api_key_get_by_reference(reference=options["reference"])
        except ApiKey.DoesNotExist:
            raise CommandError(f"no API key matches {options['reference']!r}") from None
        was_revoked = api_key.revoked_at is not None
        api_key = api_key_revoke(api_key=api_key, actor_label=CLI_ACTOR.label)
        revoked_at = api_key.revoked_at.isoformat() if api_key.revoked_at else None
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "id": str(api_key.pk),
                        "prefix": api_key.prefix,
                        "tenant": api_key.tenant.slug,
                        "revoked_at": revoked_at,
                        "already_revoked": was_revoked,
                    }
                )
            )
        elif was_revoked:
            self.stdout.write(f"API key {api_key.prefix} was already revoked at {revoked_at}.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Revoked API key {api_key.prefix} of tenant {api_key.tenant.slug}."))
