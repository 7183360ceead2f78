from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.actors import CLI_ACTOR
from accounts.models import Tenant
from messaging.channels import channel_add
from messaging.errors import MessagingError
from messaging.models import MetaApp, Platform


class Command(BaseCommand):
    help = (
        "Add a channel (a WhatsApp number, Facebook page or Instagram account) to a tenant, reached through "
        "a registered Meta app. The Graph access token is read from standard input."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--app", required=True, help="the Meta app's app_key")
        parser.add_argument("--platform", required=True, choices=Platform.values)
        parser.add_argument("--provider-id", required=True, help="phone_number_id, page id or Instagram account id")
        parser.add_argument("--name", default="", help="display name")
        parser.add_argument(
            "--waba-id",
            default="",
            help="WhatsApp only: the WhatsApp Business Account id (account-level webhooks and templates)",
        )
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {options['tenant']!r}")
        meta_app = MetaApp.objects.filter(app_key=options["app"]).first()
        if meta_app is None:
            raise CommandError(f"no Meta app with app_key {options['app']!r}")
        token = sys.stdin.readline().strip()
        try:
            channel = channel_add(
                tenant=tenant,
                meta_app=meta_app,
                platform=options["platform"],
                provider_id=options["provider_id"],
                access_token=token,
                display_name=options["name"],
                waba_id=options["waba_id"],
                actor=CLI_ACTOR,
            )
        except MessagingError as error:
            raise CommandError(str(error)) from None
        result = {
            "id": str(channel.pk),
            "tenant": tenant.slug,
            "platform": channel.platform,
            "provider_id": channel.provider_id,
            "waba_id": channel.waba_id,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(self.style.SUCCESS(f"Added {channel} to {tenant.slug}."))
