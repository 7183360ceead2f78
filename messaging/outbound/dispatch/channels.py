"""Pausing a channel on a channel-level error (or in the admin), and resuming it (its held messages published
again); each is a business event, recorded in the transaction of the change."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from audit.models import AuditAction
from audit.services import audit_record
from messaging.alerts import channel_alerts_resolve
from messaging.business_events import BusinessEvent, EventType, Fact, business_events_record
from messaging.errors import MessagingError
from messaging.models import Channel, ChannelAlert, ChannelStatus
from messaging.outbound.dispatch.relay import outbox_relay
from messaging.providers.events import AccountStanding

logger = logging.getLogger(__name__)


DISPATCHER_ACTOR = Actor(label="dispatcher")


def channel_pause(*, channel: Channel, code: int | None, title: str, actor: Actor = DISPATCHER_ACTOR) -> bool:
    """Stop sending on the channel (190, 368, 131031…, or an admin's choice): an alert for the admin, an audit
    event and a ``channel.paused`` business event. Once only."""
    reason = title[:200]
    with transaction.atomic():
        paused = Channel.objects.filter(pk=channel.pk, status=ChannelStatus.ACTIVE).update(
            status=ChannelStatus.PAUSED, paused_reason=reason
        )
        if not paused:
            return False
        ChannelAlert.objects.create(
            tenant_id=channel.tenant_id, channel_id=channel.pk, error_code=code or 0, error_title=reason
        )
        audit_record(
            action=AuditAction.CHANNEL_PAUSED,
            tenant_id=channel.tenant_id,
            actor_id=actor.user_id,
            actor_label=actor.label,
            ip=actor.ip,
            target_type="channel",
            target_id=str(channel.pk),
            details={"error_code": code or 0},
        )
        facts: dict[str, Fact] = {"reason": reason, "error_code": code}
        business_events_record([_channel_event(EventType.CHANNEL_PAUSED, channel, facts)])
    channel.status, channel.paused_reason = ChannelStatus.PAUSED, reason
    logger.warning("channel paused", extra={"channel_id": str(channel.pk), "error_code": code})
    return True


def channel_resume(*, channel: Channel, actor: Actor) -> int:
    """Send again on a paused channel (after fixing its token, say): alerts resolved, held messages published.
    Returns how many were published."""
    now = timezone.now()
    with transaction.atomic():
        resumed = Channel.objects.filter(pk=channel.pk, status=ChannelStatus.PAUSED).update(
            status=ChannelStatus.ACTIVE, paused_reason=""
        )
        if not resumed:
            raise MessagingError("this channel is not paused")
        channel_alerts_resolve(channel=channel, now=now)
        published = outbox_relay(now=now, channel_id=channel.pk, grace=timedelta(0))
        audit_record(
            action=AuditAction.CHANNEL_RESUMED,
            tenant_id=channel.tenant_id,
            actor_id=actor.user_id,
            actor_label=actor.label,
            ip=actor.ip,
            target_type="channel",
            target_id=str(channel.pk),
            details={"published": published},
        )
        business_events_record([_channel_event(EventType.CHANNEL_RESUMED, channel, {})])
    channel.status, channel.paused_reason = ChannelStatus.ACTIVE, ""
    return published


def _channel_event(event_type: EventType, channel: Channel, facts: dict[str, Fact]) -> BusinessEvent:
    return BusinessEvent(
        type=event_type, tenant_id=channel.tenant_id, channel_id=channel.pk, occurred_at=timezone.now(), facts=facts
    )


ACCOUNT_ACTOR = Actor(label="meta account webhook")


def account_pause_prefix(standing: AccountStanding) -> str:
    return f"Meta account {standing.kind}: "


def channel_account_pause(channel: Channel, standing: AccountStanding) -> bool:
    """Meta banned or restricted the channel's business account: paused like any channel-level error, the
    reason naming the kind of measure (which is how its lifting knows the pause is its own)."""
    title = account_pause_prefix(standing) + standing.reason
    return channel_pause(channel=channel, code=None, title=title, actor=ACCOUNT_ACTOR)


def channel_account_lift(channel: Channel, standing: AccountStanding) -> bool:
    """Meta lifted a measure on the account: a channel that kind of measure paused sends again (its held
    messages published, ``channel.resumed`` recorded); one paused for another reason stays paused."""
    restricted = Channel.objects.filter(
        pk=channel.pk, status=ChannelStatus.PAUSED, paused_reason__startswith=account_pause_prefix(standing)
    ).exists()
    if not restricted:
        return False
    channel_resume(channel=channel, actor=ACCOUNT_ACTOR)
    logger.info("channel resumed: account restriction lifted", extra={"channel_id": str(channel.pk)})
    return True
