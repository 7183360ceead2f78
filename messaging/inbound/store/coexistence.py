"""Channels that share their number with the WhatsApp Business app."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.utils import timezone

from messaging.models import Channel

logger = logging.getLogger(__name__)


def coexistence_mark(channels: Sequence[Channel]) -> None:
    """A number whose WhatsApp Business app echoes, syncs or shares its history is on that app too: Meta then
    holds it to the coexistence throughput, so the dispatcher does (``Channel.send_rate``)."""
    pending = [channel.pk for channel in channels if not channel.is_coexistence]
    if not pending:
        return
    marked = list(Channel.objects.filter(pk__in=pending, is_coexistence=False).values_list("pk", flat=True))
    Channel.objects.filter(pk__in=marked).update(is_coexistence=True, updated_at=timezone.now())
    for channel_id in marked:
        logger.info("channel shares its number with the WhatsApp Business app", extra={"channel_id": str(channel_id)})
