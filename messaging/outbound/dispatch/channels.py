"""Pausing a channel on a channel-level error, and resuming it (its held messages published again)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from audit.models import AuditAction
from audit.services import audit_record
from messaging.errors import MessagingError
from messaging.models import Channel, ChannelAlert, ChannelStatus
from messaging.outbound.dispatch.relay import outbox_relay

logger = logging.getLogger(__name__)


DISPATCHER_ACTOR = Actor(label="dispatcher")


def channel_pause(*, channel: Channel, code: int | None, title: str) -> bool:
    """Stop sending on the channel (190, 368, 131031…): an alert for the admin, an audit event. Once only."""
    with transaction.atomic():
        paused = Channel.objects.filter(pk=channel.pk, status=ChannelStatus.ACTIVE).update(
            status=ChannelStatus.PAUSED, paused_reason=title[:200]
        )
        if not paused:
            return False
        ChannelAlert.objects.create(
            tenant_id=channel.tenant_id, channel_id=channel.pk, error_code=code or 0, error_title=title[:200]
        )
        audit_record(
            action=AuditAction.CHANNEL_PAUSED,
            tenant_id=channel.tenant_id,
            actor_label=DISPATCHER_ACTOR.label,
            target_type="channel",
            target_id=str(channel.pk),
            details={"error_code": code or 0},
        )
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
        ChannelAlert.objects.filter(channel_id=channel.pk, resolved_at__isnull=True).update(resolved_at=now)
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
    channel.status, channel.paused_reason = ChannelStatus.ACTIVE, ""
    return published
