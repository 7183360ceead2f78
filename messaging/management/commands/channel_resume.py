from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.actors import CLI_ACTOR
from messaging.errors import MessagingError
from messaging.models import Channel, Platform
from messaging.outbound.dispatch.channels import channel_resume


class Command(BaseCommand):
    help = (
        "Resume sending on a channel the dispatcher paused (token expired, account blocked or locked): its alerts "
        "are resolved and its held messages published. Fix the cause first (e.g. channel token)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--platform", required=True, choices=Platform.values)
        parser.add_argument("--provider-id", required=True, help="phone_number_id, page id or Instagram account id")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        channel = Channel.objects.filter(platform=options["platform"], provider_id=options["provider_id"]).first()
        if channel is None:
            raise CommandError(f"no {options['platform']} channel with id {options['provider_id']}")
        try:
            published = channel_resume(channel=channel, actor=CLI_ACTOR)
        except MessagingError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps({"id": str(channel.pk), "published": published}))
        else:
            self.stdout.write(self.style.SUCCESS(f"Resumed {channel}; {published} held messages published."))
