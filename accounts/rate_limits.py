"""The API's rate-limit classes and the rates that apply to a key: its own override, else the installation's
default (settings.API_RATE_LIMITS), and its tenant's aggregate (settings.API_TENANT_RATE_LIMITS).

Every API operation belongs to one class (accounts.api_throttle counts it there): ``sends`` (new outbound
messages), ``exports`` (subject exports asked for), ``erasures``, ``reads`` (every other GET) and ``writes``
(every other change).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core import checks

from accounts.models import ApiKey
from core.quota import QuotaBucket, Rate, RateFormatError, rate_parse

SENDS = "sends"
EXPORTS = "exports"
ERASURES = "erasures"
READS = "reads"
WRITES = "writes"
RATE_LIMIT_CLASSES = (SENDS, EXPORTS, ERASURES, READS, WRITES)
TENANT_POLICY_SUFFIX = "-tenant"


class RateLimitsError(ValueError):
    """Overrides that name an unknown class or a malformed rate."""


def rate_limits_clean(overrides: Mapping[str, Any] | None) -> dict[str, str]:
    """A key's overrides as stored: known classes only, each a ``<requests>/<seconds>`` rate."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise RateLimitsError('rate limits must map a class to a rate, e.g. {"exports": "5/3600"}')
    unknown = sorted(str(name) for name in overrides if name not in RATE_LIMIT_CLASSES)
    if unknown:
        raise RateLimitsError(
            f"unknown rate-limit class(es): {', '.join(unknown)}; known: {', '.join(RATE_LIMIT_CLASSES)}"
        )
    clean = {}
    for name in RATE_LIMIT_CLASSES:
        if name in overrides:
            try:
                clean[name] = str(rate_parse(str(overrides[name])))
            except RateFormatError as error:
                raise RateLimitsError(f"{name}: {error}") from None
    return clean


def rate_limits_parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``["exports=5/3600", ...]`` (the command line's and the admin form's notation) as clean overrides."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, separator, rate = pair.partition("=")
        if not separator:
            raise RateLimitsError(f"{pair!r}: write <class>=<requests>/<seconds>, e.g. exports=5/3600")
        overrides[name.strip()] = rate.strip()
    return rate_limits_clean(overrides)


def key_rate(api_key: ApiKey, limit_class: str) -> Rate:
    override = (api_key.rate_limits or {}).get(limit_class)
    return rate_parse(override or settings.API_RATE_LIMITS[limit_class])


def tenant_rate(limit_class: str) -> Rate:
    return rate_parse(settings.API_TENANT_RATE_LIMITS[limit_class])


def rate_limit_buckets(api_key: ApiKey, limit_class: str) -> list[QuotaBucket]:
    """The key's counter and its tenant's, for one class (named by ids: no names, no secrets)."""
    return [
        QuotaBucket(f"api:{limit_class}:key:{api_key.pk}", limit_class, key_rate(api_key, limit_class)),
        QuotaBucket(
            f"api:{limit_class}:tenant:{api_key.tenant_id}",
            f"{limit_class}{TENANT_POLICY_SUFFIX}",
            tenant_rate(limit_class),
        ),
    ]


@checks.register(checks.Tags.compatibility)
def rate_limit_settings_check(**_: Any) -> list[checks.CheckMessage]:
    """Every class has a well-formed default rate, per key and per tenant (GATEWAY_[TENANT_]RATE_LIMIT_<CLASS>)."""
    errors: list[checks.CheckMessage] = []
    for setting in ("API_RATE_LIMITS", "API_TENANT_RATE_LIMITS"):
        configured = getattr(settings, setting)
        for name in RATE_LIMIT_CLASSES:
            try:
                rate_parse(str(configured.get(name, "")))
            except RateFormatError as error:
                errors.append(checks.Error(f"settings.{setting}[{name!r}]: {error}", id="accounts.E101"))
    return errors
