from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.actors import CLI_ACTOR
from accounts.services import AccountsError, tenant_create


class Command(BaseCommand):
    help = "Create a tenant (a business using the gateway)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("slug", help="short unique id, e.g. acme (letters, digits, - and _)")
        parser.add_argument("--name", help="display name (defaults to the slug)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_create(name=options["name"] or options["slug"], slug=options["slug"], actor=CLI_ACTOR)
        except AccountsError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps({"id": str(tenant.pk), "slug": tenant.slug, "name": tenant.name}))
        else:
            self.stdout.write(self.style.SUCCESS(f"Created tenant {tenant.slug} ({tenant.pk})."))
