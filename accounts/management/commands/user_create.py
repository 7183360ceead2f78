from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.actors import CLI_ACTOR
from accounts.models import Role, Tenant
from accounts.services import AccountsError, membership_set, user_create


class Command(BaseCommand):
    help = (
        "Create a user, optionally with a membership in a tenant. The password is read from standard "
        "input with --password-stdin (never from the command line); without it the account has no "
        "usable password until one is set with `manage.py changepassword`. The user enrols an "
        "authenticator app at first login."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--tenant", help="tenant slug to add the user to")
        parser.add_argument("--role", choices=Role.values, help="role in --tenant")
        parser.add_argument("--full-name", default="")
        parser.add_argument("--staff", action="store_true", help="may use the admin (always with MFA)")
        parser.add_argument("--superuser", action="store_true", help="operator: every permission (MFA too)")
        parser.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["tenant"]) != bool(options["role"]):
            raise CommandError("--tenant and --role go together")
        password = sys.stdin.readline().rstrip("\n") if options["password_stdin"] else None
        tenant = self._tenant(options["tenant"])
        try:
            with transaction.atomic():
                user = user_create(
                    email=options["email"],
                    password=password,
                    actor=CLI_ACTOR,
                    full_name=options["full_name"],
                    is_staff=options["staff"],
                    is_superuser=options["superuser"],
                )
                if tenant:
                    membership_set(tenant=tenant, user=user, role=options["role"], actor=CLI_ACTOR)
        except AccountsError as error:
            raise CommandError(str(error)) from None
        result = {
            "id": str(user.pk),
            "email": user.email,
            "tenant": tenant.slug if tenant else None,
            "role": options["role"],
            "has_password": user.has_usable_password(),
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(self.style.SUCCESS(f"Created user {user.email} ({user.pk})."))

    def _tenant(self, slug: str | None) -> Tenant | None:
        if not slug:
            return None
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {slug!r}")
        return tenant
