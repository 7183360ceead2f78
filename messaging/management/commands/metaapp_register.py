from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import meta_app_register
from messaging.errors import MessagingError


class Command(BaseCommand):
    help = (
        "Register a Meta app whose webhooks this gateway receives. The app secret is read from standard "
        "input (never the command line). Prints the callback URL path and a generated verify token (shown "
        "once) to paste into the app's dashboard."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        owner = parser.add_mutually_exclusive_group(required=True)
        owner.add_argument("--tenant", help="slug of the tenant that owns the app")
        owner.add_argument("--shared", action="store_true", help="an operator app shared by several tenants")
        parser.add_argument("--name", required=True)
        parser.add_argument("--meta-app-id", default="", help="the app id shown in Meta's dashboard")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"no tenant with slug {options['tenant']!r}")
        secret = sys.stdin.readline().strip()
        try:
            registered = meta_app_register(
                tenant=tenant,
                name=options["name"],
                app_secret=secret,
                meta_app_id=options["meta_app_id"],
                actor=CLI_ACTOR,
            )
        except MessagingError as error:
            raise CommandError(str(error)) from None
        app = registered.meta_app
        path = reverse("webhooks:meta", args=[app.app_key])
        result = {
            "id": str(app.pk),
            "app_key": app.app_key,
            "callback_path": path,
            "verify_token": registered.verify_token,
            "tenant": tenant.slug if tenant else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(self.style.SUCCESS(f"Registered Meta app {app.name} ({app.app_key})."))
        self.stdout.write(f"  Callback URL: https://<your gateway host>{path}")
        self.stdout.write(f"  Verify token: {registered.verify_token}   (shown once)")
