"""Filling ``Message.public_type`` for rows written before it was stored: Messenger's and Instagram's messages
and attachment sends, named by their content (the migration named every other row from its stored type)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from messaging.models import Message
from messaging.selectors import message_open

DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True)
class FillProgress:
    filled: int
    remaining: int


def public_types_fill(
    *, batch_size: int = DEFAULT_BATCH_SIZE, progress: Callable[[FillProgress], None] | None = None
) -> int:
    """Name every row still without a public type, a batch at a time in id order; returns how many.

    A row whose content is gone (expired, purged, unreadable) gets what its stored type alone says, ``unknown``
    for a bare ``message``. Safe to stop and run again: it only reads rows still empty."""
    pending = Message.objects.filter(public_type="").select_related("channel").order_by("pk")
    remaining, filled, after = pending.count(), 0, None
    while True:
        batch = list((pending if after is None else pending.filter(pk__gt=after))[:batch_size])
        if not batch:
            return filled
        for message in batch:
            message.public_type = message_open(message=message).public.type.value
        Message.objects.bulk_update(batch, ["public_type"])
        filled, after = filled + len(batch), batch[-1].pk
        if progress is not None:
            progress(FillProgress(filled=filled, remaining=max(remaining - filled, 0)))
