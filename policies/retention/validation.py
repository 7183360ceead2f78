"""Retention policy values: defaults, the limits that make them sensible, and the one validation the admin
and the services share. Every message names the field it is about.

Why these limits: content and media are sealed under day keys destroyed after the installation's maximum
(``GATEWAY_CONTENT_MAX_DAYS``), raw bodies under day keys destroyed after ``GATEWAY_RAW_DELIVERY_DAYS``, so a
policy cannot keep them longer; a media file is sealed under its message's content key, so it never outlives
the message's content (``media_days`` longer than that simply does not apply); metadata (ids, times,
statuses) must outlive the content it describes, and so its media.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

from policies.models import (
    DEFAULT_AUDIT_DAYS,
    DEFAULT_CONTENT_MAX_DAYS,
    DEFAULT_MEDIA_DAYS,
    DEFAULT_METADATA_DAYS,
    DEFAULT_RAW_DELIVERY_DAYS,
    RetentionPolicy,
)

DISAPPEARING_MIN_SECONDS = 5
DISAPPEARING_MAX_SECONDS = 30 * 24 * 3600
METADATA_MAX_DAYS = 3650
AUDIT_MIN_DAYS = 365
AUDIT_MAX_DAYS = 3650
OPTIONAL_FIELDS = frozenset({"content_days_after_delivery", "disappearing_seconds_after_read"})
BOOLEAN_FIELDS = frozenset({"purge_content_on_delivery"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyValues:
    """The editable values of a retention policy (days, seconds, a flag); ``None``: no such limit."""

    content_days_after_delivery: int | None = None
    content_max_days: int = DEFAULT_CONTENT_MAX_DAYS
    purge_content_on_delivery: bool = False
    disappearing_seconds_after_read: int | None = None
    metadata_days: int = DEFAULT_METADATA_DAYS
    raw_delivery_days: int = DEFAULT_RAW_DELIVERY_DAYS
    media_days: int = DEFAULT_MEDIA_DAYS
    audit_days: int = DEFAULT_AUDIT_DAYS

    @classmethod
    def of(cls, policy: RetentionPolicy) -> PolicyValues:
        return cls(**{name: getattr(policy, name) for name in POLICY_FIELDS})

    def as_dict(self) -> dict[str, int | bool | None]:
        return {name: getattr(self, name) for name in POLICY_FIELDS}

    def in_force(self) -> PolicyValues:
        """Within the installation's limits even if they were lowered after this was saved; media within the
        content's lifetime (a file never outlives its message's content)."""
        content_max = min(self.content_max_days, settings.GATEWAY_CONTENT_MAX_DAYS)
        after_delivery = self.content_days_after_delivery
        return dataclasses.replace(
            self,
            content_max_days=content_max,
            content_days_after_delivery=None if after_delivery is None else min(after_delivery, content_max),
            media_days=min(self.media_days, content_max),
            raw_delivery_days=min(self.raw_delivery_days, settings.GATEWAY_RAW_DELIVERY_DAYS),
        )


POLICY_FIELDS = tuple(field.name for field in dataclasses.fields(PolicyValues))
# What people read: form labels, the admin's summaries and the text of every rule a value breaks. The API keeps the
# field names (its contract) and uses these only in the human ``detail``.
POLICY_LABELS = {
    "content_days_after_delivery": "Content lifetime after delivery (days)",
    "content_max_days": "Maximum content lifetime (days)",
    "purge_content_on_delivery": "Purge content on delivery",
    "disappearing_seconds_after_read": "Disappearing after read (seconds)",
    "metadata_days": "Metadata lifetime (days)",
    "raw_delivery_days": "Raw webhook body lifetime (days)",
    "media_days": "Media lifetime (days)",
    "audit_days": "Audit event lifetime (days)",
}


class RetentionPolicyInvalidError(ValueError):
    """A policy change refused: nothing was changed. ``errors`` maps each offending field to why."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(
            "; ".join(f"{POLICY_LABELS.get(name, name)}: {message}" for name, message in self.errors.items())
        )


def policy_defaults() -> PolicyValues:
    """What a tenant without a policy row gets: the model's defaults, within the installation's limits."""
    return PolicyValues().in_force()


def policy_values_merge(current: PolicyValues, changes: Mapping[str, object]) -> PolicyValues:
    """``current`` with ``changes`` applied; unknown fields and values of the wrong type are refused."""
    errors: dict[str, str] = {}
    for name, value in changes.items():
        problem = _type_problem(name, value)
        if problem:
            errors[name] = problem
    if errors:
        raise RetentionPolicyInvalidError(errors)
    return dataclasses.replace(current, **changes)  # type: ignore[arg-type]  # names and types checked above


def _type_problem(name: str, value: object) -> str | None:
    if name not in POLICY_FIELDS:
        return f"Unknown field; a retention policy has {', '.join(POLICY_FIELDS)}."
    if name in BOOLEAN_FIELDS:
        return None if isinstance(value, bool) else "Must be true or false."
    if value is None:
        return None if name in OPTIONAL_FIELDS else "Must be a whole number."
    return None if isinstance(value, int) and not isinstance(value, bool) else "Must be a whole number."


def policy_values_validate(values: PolicyValues) -> dict[str, str]:
    """Every rule the values break, by field (empty: valid)."""
    content_max_limit = settings.GATEWAY_CONTENT_MAX_DAYS
    raw_limit = settings.GATEWAY_RAW_DELIVERY_DAYS
    content_max = values.content_max_days
    checks = {
        "content_max_days": _between(
            content_max, 1, content_max_limit, "days (the installation's maximum, GATEWAY_CONTENT_MAX_DAYS)"
        ),
        "content_days_after_delivery": _optional_between(
            values.content_days_after_delivery, 1, content_max, "days (the maximum content lifetime), or empty"
        ),
        "disappearing_seconds_after_read": _optional_between(
            values.disappearing_seconds_after_read,
            DISAPPEARING_MIN_SECONDS,
            DISAPPEARING_MAX_SECONDS,
            "seconds (30 days), or empty",
        ),
        "media_days": _between(
            values.media_days, 1, content_max_limit, "days (the installation's maximum, GATEWAY_CONTENT_MAX_DAYS)"
        ),
        "metadata_days": _metadata_problem(values),
        "raw_delivery_days": _between(
            values.raw_delivery_days, 1, raw_limit, "days (raw bodies' keys go then: GATEWAY_RAW_DELIVERY_DAYS)"
        ),
        "audit_days": _between(values.audit_days, AUDIT_MIN_DAYS, AUDIT_MAX_DAYS, "days"),
    }
    return {name: problem for name, problem in checks.items() if problem}


def policy_values_check(values: PolicyValues) -> None:
    errors = policy_values_validate(values)
    if errors:
        raise RetentionPolicyInvalidError(errors)


def _between(value: int, low: int, high: int, unit: str) -> str | None:
    if low <= value <= high:
        return None
    return f"Must be between {low} and {high} {unit}; got {value}."


def _optional_between(value: int | None, low: int, high: int, unit: str) -> str | None:
    return None if value is None else _between(value, low, high, unit)


def _metadata_problem(values: PolicyValues) -> str | None:
    """Metadata must outlive what it describes: the content, and so the media (which never outlives it)."""
    floor, metadata_days = values.content_max_days, values.metadata_days
    if metadata_days < floor:
        return (
            f"Metadata must outlive content and media: at least the maximum content lifetime ({floor} days); "
            f"got {metadata_days}."
        )
    return _between(values.metadata_days, 1, METADATA_MAX_DAYS, "days")
