from __future__ import annotations

import io
import secrets
from argparse import ArgumentParser
from typing import Any

import segno
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.actors import CLI_ACTOR
from accounts.mfa import backup_codes_issue, totp_device_provision, totp_provisioning_uri
from accounts.models import Role, Tenant, User
from accounts.services import membership_set, tenant_create, user_create
from audit.models import AuditAction
from audit.services import audit_record
from gateway.demo import DemoSetup, demo_curl, demo_provision

DEMO_TENANT_SLUG = "demo"
DEMO_EMAIL = "owner@demo.example"


class Command(BaseCommand):
    help = (
        "Create the demo tenant and its owner (an operator with admin access) on first run and print the "
        "login with its authenticator enrolment and backup codes. Later runs only print the admin URL; "
        "--reset issues a new password, authenticator and backup codes. Every run also sets up a demo Meta "
        "app with a WhatsApp number and a Messenger page served by the local Meta simulator, writes the "
        "simulator's channel file under the var directory, and prints a new demo API key with a curl that "
        "sends a message."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the gateway is served")
        parser.add_argument(
            "--simulator-url",
            default="http://127.0.0.1:8899",
            help="where the local Meta simulator is served (its event receiver gets the demo's events)",
        )
        parser.add_argument("--reset", action="store_true", help="re-issue the demo owner's credentials")

    def handle(self, *args: Any, **options: Any) -> None:
        self._owner(options["url"].rstrip("/") + "/admin/", reset=options["reset"])
        tenant = Tenant.objects.get(slug=DEMO_TENANT_SLUG)
        setup = demo_provision(tenant=tenant, gateway_url=options["url"], simulator_url=options["simulator_url"])
        self._print_demo(setup, options["url"])

    def _owner(self, admin_url: str, *, reset: bool) -> None:
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user and not reset:
            self._print_returning(admin_url)
            return
        with transaction.atomic():
            user = user or self._create_owner()
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save(update_fields=["password"])
            device = totp_device_provision(user=user)
            codes = backup_codes_issue(user=user)
            audit_record(
                action=AuditAction.MFA_ENROLLED,
                tenant_id=None,
                actor_label=CLI_ACTOR.label,
                target_type="user",
                target_id=str(user.pk),
                details={"device": "totp", "by": "bootstrap"},
            )
        self._print_credentials(admin_url, password, totp_provisioning_uri(device), codes)

    def _create_owner(self) -> User:
        tenant = Tenant.objects.filter(slug=DEMO_TENANT_SLUG).first() or tenant_create(
            name="Demo business", slug=DEMO_TENANT_SLUG, actor=CLI_ACTOR
        )
        user = user_create(email=DEMO_EMAIL, password=None, actor=CLI_ACTOR, full_name="Demo owner", is_superuser=True)
        membership_set(tenant=tenant, user=user, role=Role.OWNER, actor=CLI_ACTOR)
        return user

    def _print_demo(self, setup: DemoSetup, url: str) -> None:
        lines = [
            "",
            "  Demo channels (served by the local Meta simulator):",
            f"    WhatsApp number {setup.whatsapp.provider_id}: channel {setup.whatsapp.pk}",
            f"    Messenger page  {setup.messenger.provider_id}: channel {setup.messenger.pk}",
            f"  Demo event endpoint (every event type, to the simulator's receiver): {setup.endpoint.pk}",
            f"  Demo API key (new on every run; the previous one is revoked): {setup.api_key}",
            "",
            "  Send a WhatsApp template message:",
            *demo_curl(setup=setup, gateway_url=url),
            "",
        ]
        self.stdout.write("\n".join(lines))

    def _print_returning(self, admin_url: str) -> None:
        self.stdout.write(self.style.SUCCESS(f"\n  Admin: {admin_url}\n  Login: {DEMO_EMAIL}"))
        self.stdout.write("  Lost the password or authenticator? `make demo-reset` issues new ones.\n")

    def _print_credentials(self, admin_url: str, password: str, uri: str, codes: list[str]) -> None:
        qr = io.StringIO()
        segno.make(uri, error="l").terminal(out=qr, compact=True)
        rule = "=" * 72
        lines = [
            rule,
            "  Demo owner created (shown once; `make demo-reset` issues new ones)",
            rule,
            f"  Admin:     {admin_url}",
            f"  Login:     {DEMO_EMAIL}",
            f"  Password:  {password}",
            "",
            "  Scan this with an authenticator app (Google Authenticator, 1Password, Aegis...):",
            qr.getvalue(),
            f"  or add it by URI: {uri}",
            "",
            "  Backup codes (each works once, in place of an authenticator code):",
            *(f"    {code}" for code in codes),
            rule,
        ]
        self.stdout.write("\n".join(lines))
