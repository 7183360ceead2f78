"""Outbound sends far above a tenant's or a channel's baseline, or to many never-seen recipients, through the send
API; and the optional automatic pause (a channel paused, a key revoked) when an alert opens."""

from __future__ import annotations

import json

import pytest
from django.db.models import Sum
from django.utils import timezone

from accounts.models import ApiKey, Tenant
from audit.alerts.detectors import outbound
from audit.alerts.history import hour_start
from audit.alerts.models import HourlyCount, SecurityAlert, Severity
from audit.models import AuditAction, AuditEvent
from core.redis import RedisUnavailableError
from messaging.models import Channel, ChannelStatus, Contact, Message
from tests.security.outbound_support import Sender, baseline_set, sender_make, thresholds_set

pytestmark = pytest.mark.django_db

# A channel used to 60 sends an hour expects 10 in the 10-minute window; five times that is its limit (50).
LOW = {"outbound_sends_min": 20, "outbound_sends_factor": 5}


def _sends(sender: Sender, channel: Channel, count: int) -> None:
    for number in range(count):
        response = sender.text(channel, sender.contacts[number % len(sender.contacts)])
        assert response.status_code == 202, response.json()


@pytest.fixture
def sender(tenant_a: Tenant) -> Sender:
    return sender_make(tenant_a, channels=2, contacts=5)


def _channel_world(sender: Sender) -> Channel:
    """The first channel's own baseline is low; the tenant's (all its channels) is high."""
    channel = sender.channels[0]
    thresholds_set(sender.tenant, **LOW)
    baseline_set(tenant=sender.tenant, subject=str(channel.pk), channel=True, per_hour=60)
    baseline_set(tenant=sender.tenant, subject=str(sender.tenant.pk), channel=False, per_hour=600)
    return channel


def test_a_channel_flooded_far_above_its_baseline_raises_exactly_one_alert(sender: Sender):
    channel = _channel_world(sender)

    _sends(sender, channel, 70)

    [alert] = SecurityAlert.objects.all()
    assert (alert.detector, alert.dedupe_key, alert.severity) == (
        "outbound_volume",
        f"channel:{channel.pk}",
        Severity.HIGH,
    )
    assert alert.tenant_id == sender.tenant.pk
    evidence = alert.evidence
    assert evidence["scope"] == "channel"
    assert evidence["channel_id"] == str(channel.pk)
    assert evidence["api_key_id"] == str(sender.api_key.pk)
    assert (evidence["expected"], evidence["limit"], evidence["baseline_per_hour"]) == (10, 50, 60)
    assert 50 < evidence["sends"] <= 60
    assert not any(contact.external_id in json.dumps(evidence) for contact in sender.contacts)
    # Auto-pause is off by default: the channel and the key carry on.
    channel.refresh_from_db()
    sender.api_key.refresh_from_db()
    assert channel.status == ChannelStatus.ACTIVE
    assert sender.api_key.revoked_at is None


def test_a_tenant_flood_spread_over_its_channels_raises_one_tenant_alert(sender: Sender):
    thresholds_set(sender.tenant, **LOW)
    baseline_set(tenant=sender.tenant, subject=str(sender.tenant.pk), channel=False, per_hour=60)
    for channel in sender.channels:
        baseline_set(tenant=sender.tenant, subject=str(channel.pk), channel=True, per_hour=600)

    for _ in range(35):
        _sends(sender, sender.channels[0], 1)
        _sends(sender, sender.channels[1], 1)

    [alert] = SecurityAlert.objects.all()
    assert alert.dedupe_key == f"tenant:{sender.tenant.pk}"
    assert alert.evidence["scope"] == "tenant"
    assert alert.evidence["channel_id"] is None


def test_steady_volumes_at_the_baseline_raise_nothing_and_feed_the_hourly_counts(sender: Sender, tenant_b: Tenant):
    channel = _channel_world(sender)
    other = sender_make(tenant_b, channels=1, contacts=3)  # no history, installation thresholds (min 500)
    started = hour_start(timezone.now())

    _sends(sender, channel, 40)  # over the minimum (20), under five times the baseline (50)
    _sends(sender, sender.channels[1], 20)
    _sends(other, other.channels[0], 30)

    assert not SecurityAlert.objects.exists()
    current = HourlyCount.objects.filter(hour__gte=started).values("subject").annotate(total=Sum("count"))
    counted = {row["subject"]: row["total"] for row in current}
    assert counted == {str(channel.pk): 40, str(sender.channels[1].pk): 20, str(sender.tenant.pk): 60, **_other(other)}


def _other(other: Sender) -> dict[str, int]:
    return {str(other.channels[0].pk): 30, str(other.tenant.pk): 30}


def test_templates_to_many_numbers_that_never_wrote_raise_exactly_one_alert(sender: Sender):
    thresholds_set(sender.tenant, outbound_new_recipients=6)
    channel = sender.channels[0]

    _sends(sender, channel, 20)  # contacts who wrote are not new
    for number in range(9):
        assert sender.template_to(channel, f"4479460{number:05d}").status_code == 202

    [alert] = SecurityAlert.objects.all()
    sixth = Contact.objects.filter(tenant=sender.tenant).order_by("created_at")[5 + 5]
    assert alert.detector == "outbound_new_recipients"
    assert alert.dedupe_key == str(sender.tenant.pk)
    assert alert.evidence["new_recipients"] == 6
    assert alert.evidence["last_contact_id"] == str(sixth.pk)
    assert "4479460" not in json.dumps(alert.evidence)


def test_auto_pause_pauses_the_flooded_channel_as_the_detector(sender: Sender):
    channel = _channel_world(sender)
    thresholds_set(sender.tenant, outbound_auto_pause=1)

    answers = [sender.text(channel, sender.contacts[0]) for _ in range(70)]

    channel.refresh_from_db()
    assert channel.status == ChannelStatus.PAUSED
    accepted = [answer.status_code for answer in answers].count(202)
    assert 50 < accepted <= 60  # judged every send without Redis, every tenth with it
    assert {answer.json()["rule"] for answer in answers[accepted:]} == {"channel_paused"}
    [paused] = AuditEvent.objects.filter(action=AuditAction.CHANNEL_PAUSED)
    assert (paused.actor_label, paused.target_id) == ("security detector", str(channel.pk))
    sender.api_key.refresh_from_db()
    assert sender.api_key.revoked_at is None
    assert sender.text(sender.channels[1], sender.contacts[0]).status_code == 202


def test_auto_pause_revokes_the_key_sending_to_never_seen_numbers(sender: Sender):
    thresholds_set(sender.tenant, outbound_new_recipients=3, outbound_auto_pause=1)
    channel = sender.channels[0]

    answers = [sender.template_to(channel, f"4479460{number:05d}").status_code for number in range(4)]

    assert answers == [202, 202, 202, 401]
    assert ApiKey.objects.get(pk=sender.api_key.pk).revoked_at is not None
    [revoked] = AuditEvent.objects.filter(action=AuditAction.API_KEY_REVOKED)
    assert revoked.actor_label == "security detector"
    assert SecurityAlert.objects.count() == 1
    assert Channel.objects.get(pk=channel.pk).status == ChannelStatus.ACTIVE


def test_a_send_accepted_while_redis_is_unreachable_is_still_accepted(sender: Sender, monkeypatch):
    def unreachable(**_: object) -> None:
        raise RedisUnavailableError

    monkeypatch.setattr(outbound, "send_count", unreachable)

    response = sender.text(sender.channels[0], sender.contacts[0])

    assert response.status_code == 202
    assert Message.objects.filter(pk=response.json()["id"]).exists()


def test_any_other_failure_while_counting_a_send_is_not_swallowed(sender: Sender, monkeypatch):
    def broken(**_: object) -> None:
        raise ZeroDivisionError

    monkeypatch.setattr(outbound, "send_count", broken)

    with pytest.raises(ZeroDivisionError):
        sender.text(sender.channels[0], sender.contacts[0])
