"""Retention policies: defaults, validation (clear, and nothing changed), audited changes, channel overrides,
and the lifetimes messaging gets from them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from accounts.actors import Actor
from accounts.models import Tenant
from audit.models import AuditAction, AuditEvent
from messaging.lifetimes import lifetimes_for
from messaging.models import Channel
from policies.models import RetentionPolicy
from policies.retention.selectors import PolicySource, retention_policy_in_force
from policies.retention.services import retention_policy_override_delete, retention_policy_update
from policies.retention.validation import POLICY_LABELS, PolicyValues, RetentionPolicyInvalidError, policy_defaults
from tests.policies.conftest import channel_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("installation_limits")]
ACTOR = Actor(label="policy tester", ip="198.51.100.7")


def _events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.POLICY_CHANGED).order_by("occurred_at"))


# --- defaults ------------------------------------------------------------------------------------------------


def test_a_tenant_without_a_policy_gets_the_defaults(tenant_a: Tenant, channel_a: Channel) -> None:
    in_force = retention_policy_in_force(tenant_id=tenant_a.pk, channel_id=channel_a.pk)

    assert in_force.source == PolicySource.DEFAULT and in_force.policy is None
    assert in_force.values == PolicyValues(
        content_days_after_delivery=None,
        content_max_days=365,
        purge_content_on_delivery=False,
        disappearing_seconds_after_read=None,
        metadata_days=730,
        raw_delivery_days=7,
        media_days=90,
        audit_days=2555,
    )
    lifetimes = lifetimes_for(tenant_id=tenant_a.pk, channel_id=channel_a.pk)
    assert (lifetimes.content_max, lifetimes.metadata, lifetimes.raw_delivery, lifetimes.media) == (
        timedelta(days=365),
        timedelta(days=730),
        timedelta(days=7),
        timedelta(days=90),
    )
    assert not lifetimes.shortens_on_delivery


def test_defaults_and_saved_values_never_exceed_the_installation_limits(
    settings: Settings, tenant_a: Tenant, channel_a: Channel
) -> None:
    retention_policy_update(tenant=tenant_a, actor=ACTOR, values={"content_max_days": 200, "media_days": 150})
    settings.GATEWAY_CONTENT_MAX_DAYS = 60
    settings.GATEWAY_RAW_DELIVERY_DAYS = 3

    saved = retention_policy_in_force(tenant_id=tenant_a.pk).values
    defaults = policy_defaults()

    assert (saved.content_max_days, saved.media_days, saved.raw_delivery_days) == (60, 60, 3)
    assert (defaults.content_max_days, defaults.media_days, defaults.raw_delivery_days) == (60, 60, 3)
    assert RetentionPolicy.objects.get().content_max_days == 200  # stored as set; applied within the limits


# --- validation: clear, and nothing changed ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field", "fragment"),
    [
        ({"content_max_days": 0}, "content_max_days", "between 1 and 365 days"),
        ({"content_max_days": 366}, "content_max_days", "GATEWAY_CONTENT_MAX_DAYS"),
        (
            {"content_max_days": 30, "content_days_after_delivery": 31},
            "content_days_after_delivery",
            "between 1 and 30",
        ),
        ({"disappearing_seconds_after_read": 4}, "disappearing_seconds_after_read", "between 5 and 2592000 seconds"),
        ({"disappearing_seconds_after_read": 2592001}, "disappearing_seconds_after_read", "30 days"),
        ({"metadata_days": 300}, "metadata_days", "Metadata must outlive content"),
        ({"media_days": 400}, "media_days", "between 1 and 365 days (the installation's maximum"),
        ({"raw_delivery_days": 8}, "raw_delivery_days", "between 1 and 7 days"),
        ({"audit_days": 364}, "audit_days", "between 365 and 3650 days"),
        ({"retention_days": 30}, "retention_days", "Unknown field"),
        ({"content_max_days": "30"}, "content_max_days", "Must be a whole number"),
        ({"content_max_days": True}, "content_max_days", "Must be a whole number"),
        ({"purge_content_on_delivery": 1}, "purge_content_on_delivery", "Must be true or false"),
        ({"metadata_days": None}, "metadata_days", "Must be a whole number"),
    ],
)
def test_invalid_values_are_refused_naming_the_field_and_nothing_changes(
    tenant_a: Tenant, values: dict[str, Any], field: str, fragment: str
) -> None:
    retention_policy_update(tenant=tenant_a, actor=ACTOR, values={"content_max_days": 365})
    before = list(RetentionPolicy.objects.values())
    events = len(_events())

    with pytest.raises(RetentionPolicyInvalidError) as raised:
        retention_policy_update(tenant=tenant_a, actor=ACTOR, values=values)

    assert set(raised.value.errors) == {field}
    assert fragment in raised.value.errors[field]
    assert str(raised.value).startswith(f"{POLICY_LABELS.get(field, field)}: ")  # what people read: the label
    assert list(RetentionPolicy.objects.values()) == before
    assert len(_events()) == events


def test_every_broken_rule_is_reported_at_once(tenant_a: Tenant) -> None:
    with pytest.raises(RetentionPolicyInvalidError) as raised:
        retention_policy_update(
            tenant=tenant_a, actor=ACTOR, values={"content_max_days": 30, "media_days": 0, "metadata_days": 20}
        )

    assert sorted(raised.value.errors) == ["media_days", "metadata_days"]
    assert raised.value.errors["metadata_days"] == (
        "Metadata must outlive content and media: at least the maximum content lifetime (30 days); got 20."
    )
    assert not RetentionPolicy.objects.exists() and not _events()


def test_a_channel_of_another_tenant_is_refused(tenant_a: Tenant, channel_b: Channel) -> None:
    with pytest.raises(RetentionPolicyInvalidError) as raised:
        retention_policy_update(tenant=tenant_a, channel=channel_b, actor=ACTOR, values={"content_max_days": 30})

    assert raised.value.errors == {"channel": "This channel belongs to another tenant."}
    assert not RetentionPolicy.objects.exists() and not _events()


# --- audited changes ----------------------------------------------------------------------------------------


def test_a_valid_change_is_saved_and_audited_with_the_values_before_and_after(tenant_a: Tenant) -> None:
    retention_policy_update(tenant=tenant_a, actor=ACTOR, values={"content_max_days": 90})

    policy = retention_policy_update(
        tenant=tenant_a,
        actor=ACTOR,
        values={"content_max_days": 30, "purge_content_on_delivery": True, "disappearing_seconds_after_read": 3600},
    )

    assert (policy.content_max_days, policy.purge_content_on_delivery, policy.disappearing_seconds_after_read) == (
        30,
        True,
        3600,
    )
    first, second = _events()
    assert first.details == {
        "scope": "tenant",
        "channel_id": None,
        "created": True,
        "deleted": False,
        "content_max_days.before": 365,
        "content_max_days.after": 90,
    }
    assert second.details == {
        "scope": "tenant",
        "channel_id": None,
        "created": False,
        "deleted": False,
        "content_max_days.before": 90,
        "content_max_days.after": 30,
        "purge_content_on_delivery.before": False,
        "purge_content_on_delivery.after": True,
        "disappearing_seconds_after_read.before": None,
        "disappearing_seconds_after_read.after": 3600,
    }
    assert (second.tenant_id, second.actor_label, second.ip) == (tenant_a.pk, "policy tester", "198.51.100.7")
    assert (second.target_type, second.target_id) == ("retention_policy", str(policy.pk))


def test_a_change_to_nothing_writes_nothing(tenant_a: Tenant) -> None:
    retention_policy_update(tenant=tenant_a, actor=ACTOR, values={"content_max_days": 90})

    retention_policy_update(tenant=tenant_a, actor=ACTOR, values={"content_max_days": 90})

    assert len(_events()) == 1


# --- channel overrides ----------------------------------------------------------------------------------------


def test_a_channel_override_starts_from_the_tenant_policy_and_wins_for_its_channel(
    tenant_a: Tenant, channel_a: Channel
) -> None:
    other = channel_create(tenant_a, "3003003003")
    retention_policy_update(tenant=tenant_a, actor=ACTOR, values={"content_max_days": 90, "media_days": 30})

    retention_policy_update(tenant=tenant_a, channel=channel_a, actor=ACTOR, values={"content_max_days": 10})

    override = retention_policy_in_force(tenant_id=tenant_a.pk, channel_id=channel_a.pk)
    assert override.source == PolicySource.CHANNEL
    assert (override.values.content_max_days, override.values.media_days) == (10, 10)
    assert override.policy is not None and override.policy.media_days == 30  # stored; a file never outlives content
    elsewhere = retention_policy_in_force(tenant_id=tenant_a.pk, channel_id=other.pk)
    assert (elsewhere.source, elsewhere.values.content_max_days) == (PolicySource.TENANT, 90)
    assert lifetimes_for(tenant_id=tenant_a.pk, channel_id=channel_a.pk).content_max == timedelta(days=10)
    assert lifetimes_for(tenant_id=tenant_a.pk, channel_id=other.pk).content_max == timedelta(days=90)
    event = _events()[-1]
    assert (event.details["scope"], event.details["channel_id"], event.details["created"]) == (
        "channel",
        str(channel_a.pk),
        True,
    )
    assert (event.details["content_max_days.before"], event.details["content_max_days.after"]) == (90, 10)
    assert "media_days.before" not in event.details


def test_removing_an_override_returns_the_channel_to_the_tenant_policy_and_is_audited(
    tenant_a: Tenant, channel_a: Channel
) -> None:
    retention_policy_update(tenant=tenant_a, channel=channel_a, actor=ACTOR, values={"content_max_days": 10})

    assert retention_policy_override_delete(tenant=tenant_a, channel=channel_a, actor=ACTOR) is True
    assert retention_policy_override_delete(tenant=tenant_a, channel=channel_a, actor=ACTOR) is False

    assert retention_policy_in_force(tenant_id=tenant_a.pk, channel_id=channel_a.pk).source == PolicySource.DEFAULT
    removal = _events()[-1]
    assert (removal.details["deleted"], removal.details["content_max_days.after"]) == (True, 365)
    assert len(_events()) == 2


def test_a_change_reaches_the_cached_lifetimes_once_committed(
    tenant_a: Tenant, channel_a: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    assert lifetimes_for(tenant_id=tenant_a.pk, channel_id=channel_a.pk).content_max == timedelta(days=365)

    with django_capture_on_commit_callbacks(execute=True):
        retention_policy_update(tenant=tenant_a, actor=ACTOR, values={"content_max_days": 30})

    assert lifetimes_for(tenant_id=tenant_a.pk, channel_id=channel_a.pk).content_max == timedelta(days=30)


def test_data_of_no_tenant_lives_by_the_installation_limits(db: None, settings: Settings) -> None:
    settings.GATEWAY_RAW_DELIVERY_DAYS = 4

    assert lifetimes_for(tenant_id=None).raw_delivery == timedelta(days=4)
