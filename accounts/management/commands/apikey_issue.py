from __future__ import annotations

import json
from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.actors import CLI_ACTOR
from accounts.apikeys import ApiKeyError, IssuedKey, api_key_clean_scopes, api_key_issue
from accounts.models import ApiScope, Tenant
from accounts.rate_limits import RATE_LIMIT_CLASSES, RateLimitsError, rate_limits_parse_pairs


class Command(BaseCommand):
    help = "Issue an API key for a tenant. The key is printed once and cannot be shown again."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--name", required=True, help="what uses this key, e.g. 'CRM integration'")
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            dest="scopes",
            metavar="SCOPE",
            help=f"a scope to grant; repeat for several ({', '.join(ApiScope.values)})",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=settings.API_KEY_DEFAULT_DAYS,
            help=f"days until the key expires (1 to {settings.API_KEY_MAX_DAYS}, default %(default)s)",
        )
        parser.add_argument(
            "--rate-limit",
            action="append",
            default=[],
            dest="rate_limits",
            metavar="CLASS=REQUESTS/SECONDS",
            help=f"this key's own rate for a class instead of the default, e.g. exports=5/3600; repeat for several "
            f"({', '.join(RATE_LIMIT_CLASSES)})",
        )
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if not 1 <= days <= settings.API_KEY_MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {settings.API_KEY_MAX_DAYS}, not {days}")
        try:
            scopes = api_key_clean_scopes(scopes=options["scopes"])
            rate_limits = rate_limits_parse_pairs(options["rate_limits"])
            tenant = Tenant.objects.get(slug=options["tenant"])
            issued = api_key_issue(
                tenant=tenant,
                name=options["name"],
                scopes=scopes,
                expires_at=timezone.now() + timedelta(days=days),
                actor_label=CLI_ACTOR.label,
                rate_limits=rate_limits,
            )
        except RateLimitsError as error:
            raise CommandError(str(error)) from None
        except Tenant.DoesNotExist:
            raise CommandError(f"unknown tenant {options['tenant']!r}") from None
        except ApiKeyError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(_as_json(issued) if options["json"] else self._as_text(issued))

    def _as_text(self, issued: IssuedKey) -> str:
        api_key = issued.api_key
        return (
            f"Issued API key {api_key.name!r} ({api_key.prefix}) for tenant {api_key.tenant.slug}, "
            f"scopes {' '.join(api_key.scopes)}{_own_rates(api_key.rate_limits)}, "
            f"expires {api_key.expires_at.isoformat()}:\n\n"
            f"    {issued.plaintext}\n\n" + self.style.WARNING("Store it now: it will not be shown again.")
        )


def _as_json(issued: IssuedKey) -> str:
    api_key = issued.api_key
    return json.dumps(
        {
            "id": str(api_key.pk),
            "key": issued.plaintext,
            "prefix": api_key.prefix,
            "tenant": api_key.tenant.slug,
            "scopes": api_key.scopes,
            "expires_at": api_key.expires_at.isoformat(),
            "rate_limits": api_key.rate_limits,
        }
    )


def _own_rates(rate_limits: dict[str, str]) -> str:
    return (
        f", own rate limits {' '.join(f'{name}={rate}' for name, rate in rate_limits.items())}" if rate_limits else ""
    )
