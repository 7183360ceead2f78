"""Which key seals a row's content (its day bucket, or a legal hold's), and read-time expiry of content."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

if TYPE_CHECKING:
    from messaging.models.media import MediaAttachment
    from messaging.models.messages import Message
    from messaging.models.statuses import MessageEdit, ParkedStatus


HOLD_SCOPE_PREFIX = "hold:"


def hold_scope(hold_id: object) -> str:
    """The content key scope of a legal hold: its content is sealed under a key of the hold, not of a day."""
    return f"{HOLD_SCOPE_PREFIX}{hold_id}"


def content_day_bucket(row: Message | ParkedStatus | MessageEdit | MediaAttachment) -> str:
    """The day after the one by which this content must be gone at the latest: received + the maximum content
    lifetime of the policy in force when it was written (``content_key_day``), else of the installation.
    Content under a legal hold (``hold_id``) is sealed under the hold's key instead (policies.subjects.holds)."""
    hold_id = getattr(row, "hold_id", None)
    if hold_id is not None:
        return hold_scope(hold_id)
    last_day = getattr(row, "content_key_day", None) or (
        row.received_at.date() + timedelta(days=settings.GATEWAY_CONTENT_MAX_DAYS)
    )
    return (last_day + timedelta(days=1)).isoformat()


def content_is_expired(message: Message) -> bool:
    """Read-time retention: content purged, or past its expiry and under no legal hold, is never served."""
    if message.content_purged_at is not None:
        return True
    expires_at = message.content_expires_at
    return message.hold_id is None and expires_at is not None and expires_at <= timezone.now()
