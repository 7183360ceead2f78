"""Outbound sends far above a tenant's or a channel's own baseline, or to many never-seen recipients: the shape of
a taken-over API key sending spam.

Fed by the send API for every accepted send (``messaging.outbound.watch``): one Redis round trip
(``send_counts``). A subject's volume is judged when its hourly count is written (every ``FLUSH_EVERY`` sends
with Redis, every send without): past ``outbound_sends_min`` sends in the window, the limit is
``outbound_sends_factor`` times the expected count (the baseline scaled to the window), and the alert is raised
when the count passes the limit. New recipients raise when their number in the window reaches
``outbound_new_recipients``. What to pause, if anything, is the caller's (``OutboundAlert.scope``).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from audit.alerts.detectors.send_counts import SendCounts, send_count
from audit.alerts.history import hourly_baseline, hourly_count_add
from audit.alerts.listeners import AlertRaised
from audit.alerts.models import Severity
from audit.alerts.services import AlertSpec, EvidenceValue, alert_raise
from audit.alerts.thresholds import threshold_for

VOLUME_DETECTOR = "outbound_volume"
RECIPIENTS_DETECTOR = "outbound_new_recipients"
TENANT_SENDS_METRIC = "outbound.sends.tenant"
CHANNEL_SENDS_METRIC = "outbound.sends.channel"
AUTO_PAUSE = "outbound_auto_pause"

VOLUME_ACTION = (
    "Check who is sending: if the volume is not the tenant's own campaign, revoke the API key that sent it and "
    "pause the channel until its owner confirms."
)
RECIPIENTS_ACTION = (
    "Check who is sending: a key sending to many numbers that never wrote is a taken-over key's shape. Revoke the "
    "API key if the tenant did not start this campaign."
)


class Scope(enum.StrEnum):
    TENANT = "tenant"
    CHANNEL = "channel"
    NEW_RECIPIENTS = "new_recipients"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendSeen:
    """One accepted send, by ids: ``is_new_recipient`` when its contact has never written on the channel."""

    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    contact_id: uuid.UUID
    message_id: uuid.UUID
    api_key_id: uuid.UUID | None
    is_new_recipient: bool


@dataclass(frozen=True, slots=True)
class OutboundAlert:
    scope: Scope
    raised: AlertRaised


@dataclass(frozen=True, slots=True)
class _Volume:
    scope: Scope
    metric: str
    subject: uuid.UUID
    count: int
    flush: int


def outbound_send_observe(*, send: SendSeen, now: datetime | None = None) -> list[OutboundAlert]:
    """Count one accepted send and answer the alerts it raised or bumped (usually none)."""
    moment = now or timezone.now()
    window = threshold_for("outbound_window_seconds", tenant_id=send.tenant_id)
    if window <= 0:
        return []
    new_contact_id = send.contact_id if send.is_new_recipient else None
    counts = send_count(
        tenant_id=send.tenant_id,
        channel_id=send.channel_id,
        new_contact_id=new_contact_id,
        window_seconds=window,
        now=moment,
    )
    alerts = [alert for volume in _volumes(send, counts) if (alert := _volume_judge(send, volume, window, moment))]
    recipients = _recipients_judge(send, counts.new_recipients, window)
    return alerts + ([recipients] if recipients else [])


def outbound_auto_pause_enabled(*, tenant_id: uuid.UUID) -> bool:
    """Whether the tenant (or the installation) asked for the sending to be stopped when an alert opens."""
    return threshold_for(AUTO_PAUSE, tenant_id=tenant_id) >= 1


def _volumes(send: SendSeen, counts: SendCounts) -> list[_Volume]:
    return [
        _Volume(Scope.TENANT, TENANT_SENDS_METRIC, send.tenant_id, counts.tenant_sends, counts.tenant_flush),
        _Volume(Scope.CHANNEL, CHANNEL_SENDS_METRIC, send.channel_id, counts.channel_sends, counts.channel_flush),
    ]


def _volume_judge(send: SendSeen, volume: _Volume, window: int, now: datetime) -> OutboundAlert | None:
    if not volume.flush:
        return None
    subject = str(volume.subject)
    hourly_count_add(metric=volume.metric, subject=subject, tenant_id=send.tenant_id, now=now, amount=volume.flush)
    minimum = threshold_for("outbound_sends_min", tenant_id=send.tenant_id)
    if minimum <= 0 or volume.count < minimum:
        return None
    days = threshold_for("baseline_days", tenant_id=send.tenant_id)
    baseline = hourly_baseline(metric=volume.metric, subject=subject, days=days, now=now)
    expected = baseline * window / 3600
    limit = max(minimum, threshold_for("outbound_sends_factor", tenant_id=send.tenant_id) * expected)
    # Judged once per flush: the count passes the limit between the previous judgement and this one.
    if not volume.count - volume.flush <= limit < volume.count:
        return None
    evidence: dict[str, EvidenceValue] = {
        "scope": str(volume.scope),
        "channel_id": str(send.channel_id) if volume.scope == Scope.CHANNEL else None,
        "sends": volume.count,
        "window_seconds": window,
        "expected": round(expected),
        "limit": round(limit),
        "baseline_per_hour": round(baseline),
        "api_key_id": str(send.api_key_id) if send.api_key_id else None,
        "last_message_id": str(send.message_id),
    }
    spec = AlertSpec(
        detector=VOLUME_DETECTOR,
        dedupe_key=f"{volume.scope}:{subject}",
        tenant_id=send.tenant_id,
        severity=Severity.HIGH,
        title=f"Outbound sends of a {volume.scope} far above its baseline",
        evidence=evidence,
        suggested_action=VOLUME_ACTION,
    )
    return OutboundAlert(volume.scope, alert_raise(spec=spec))


def _recipients_judge(send: SendSeen, new_recipients: int, window: int) -> OutboundAlert | None:
    threshold = threshold_for("outbound_new_recipients", tenant_id=send.tenant_id)
    if threshold <= 0 or new_recipients != threshold or not send.is_new_recipient:
        return None
    spec = AlertSpec(
        detector=RECIPIENTS_DETECTOR,
        dedupe_key=str(send.tenant_id),
        tenant_id=send.tenant_id,
        severity=Severity.HIGH,
        title="Outbound sends to many recipients who never wrote",
        evidence={
            "new_recipients": new_recipients,
            "window_seconds": window,
            "channel_id": str(send.channel_id),
            "api_key_id": str(send.api_key_id) if send.api_key_id else None,
            "last_contact_id": str(send.contact_id),
            "last_message_id": str(send.message_id),
        },
        suggested_action=RECIPIENTS_ACTION,
    )
    return OutboundAlert(Scope.NEW_RECIPIENTS, alert_raise(spec=spec))
