"""Every accepted send is shown to the outbound volume detector (``audit.alerts.detectors.outbound``); when an
alert opens and the tenant asked for it (``outbound_auto_pause``), the sending stops: a channel whose own volume
went far above its baseline is paused, and the API key behind a tenant-wide flood or a run of never-seen
recipients is revoked. Both are audited as the detector's doing (``security detector``)."""

from __future__ import annotations

import logging

from accounts.actors import Actor
from accounts.apikeys import api_key_revoke
from accounts.models import ApiKey
from audit.alerts.detectors.outbound import (
    OutboundAlert,
    Scope,
    SendSeen,
    outbound_auto_pause_enabled,
    outbound_send_observe,
)
from core.redis import redis_outage
from messaging.models import Message
from messaging.outbound.dispatch.channels import channel_pause

logger = logging.getLogger(__name__)

DETECTOR_ACTOR = Actor(label="security detector")
PAUSE_TITLE = "Paused by a security alert: sends far above the channel's baseline"


def send_watch(*, message: Message, api_key: ApiKey | None) -> list[OutboundAlert]:
    """Count the queued ``message`` (ids only) and stop the sending if an alert opened and auto-pause is on."""
    conversation = message.conversation
    send = SendSeen(
        tenant_id=message.tenant_id,
        channel_id=message.channel_id,
        contact_id=message.contact_id,
        message_id=message.pk,
        api_key_id=api_key.pk if api_key else None,
        is_new_recipient=conversation.last_inbound_at is None,
    )
    try:
        alerts = outbound_send_observe(send=send)
    # Broad on purpose, and narrowed at once: the message is committed, so a Redis outage while counting it must
    # not turn its 202 into an error a client would retry (a duplicate send without an Idempotency-Key). Anything
    # else is raised again (tested both ways).
    except Exception as error:
        if not redis_outage(error):
            raise
        logger.warning("send not counted: redis unreachable", extra={"message_id": str(message.pk)})
        return []
    opened = [alert for alert in alerts if alert.raised.is_new]
    if opened and outbound_auto_pause_enabled(tenant_id=message.tenant_id):
        for alert in opened:
            _sending_stop(alert, message, api_key)
    return alerts


def _sending_stop(alert: OutboundAlert, message: Message, api_key: ApiKey | None) -> None:
    alert_id = str(alert.raised.alert.pk)
    if alert.scope == Scope.CHANNEL:
        channel_pause(channel=message.channel, code=None, title=PAUSE_TITLE, actor=DETECTOR_ACTOR)
        logger.warning("channel paused by a security alert", extra={"alert_id": alert_id})
    elif api_key is not None:
        api_key_revoke(api_key=api_key, actor_label=DETECTOR_ACTOR.label)
        logger.warning("api key revoked by a security alert", extra={"alert_id": alert_id, "key_id": api_key.key_id})
