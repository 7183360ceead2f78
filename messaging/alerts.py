"""Channel alerts: why a channel stopped sending. An alert is resolved, in the transaction of the change that ends
its cause: every open alert of a channel when it is resumed, and the token errors' alerts when its access token
is replaced (the channel itself stays paused until resumed). Open alerts are listed on the admin dashboard."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from messaging.models import Channel, ChannelAlert
from messaging.providers.errors import ERROR_POLICIES

# The Graph errors a new access token ends: a dispatcher pause records the code with the policy's title
# (an admin's or Meta's account pause records code 0 with its own reason, and a new token does not end those).
TOKEN_ERROR_CODES = (0, 190)


def channel_alerts_open(*, tenant_ids: Iterable[uuid.UUID] | None) -> QuerySet[ChannelAlert]:
    """Unresolved alerts, newest first, with their channel and tenant: of these tenants, or every tenant's (None)."""
    alerts = (
        ChannelAlert.objects.filter(resolved_at__isnull=True)
        .select_related("channel", "tenant")
        .defer("channel__access_token")
        .order_by("-created_at")
    )
    return alerts if tenant_ids is None else alerts.filter(tenant_id__in=list(tenant_ids))


def channel_alerts_resolve(*, channel: Channel, now: datetime | None = None) -> int:
    """Resolve every open alert of the channel (it was resumed); returns how many."""
    return _open_of(channel).update(resolved_at=now or timezone.now())


def channel_token_alerts_resolve(*, channel: Channel, now: datetime | None = None) -> int:
    """Resolve the channel's open alerts a bad or expired token raised (its token was replaced)."""
    token_errors = Q(pk__in=[])
    for code in TOKEN_ERROR_CODES:
        token_errors |= Q(error_code=code, error_title=ERROR_POLICIES[code].title[:200])
    return _open_of(channel).filter(token_errors).update(resolved_at=now or timezone.now())


def _open_of(channel: Channel) -> QuerySet[ChannelAlert]:
    return ChannelAlert.objects.filter(channel_id=channel.pk, resolved_at__isnull=True)
