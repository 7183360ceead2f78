from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.actors import CLI_ACTOR
from accounts.models import User, normalize_email
from accounts.services import user_disable


class Command(BaseCommand):
    help = (
        "Disable a login at once: its sessions end and the API keys it created are revoked (the admin's "
        "Active box does the same). Running it again ends whatever is left."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("email", help="the user's email address")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=normalize_email(options["email"])).first()
        if user is None:
            raise CommandError(f"no user has the email address {options['email']!r}")
        revoked = user_disable(user=user, actor=CLI_ACTOR)
        self.stdout.write(self.style.SUCCESS(f"Disabled {user.email}; revoked {revoked} API key(s) they created."))
