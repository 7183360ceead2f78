"""Edits applied to the messages they change: the message's content becomes the edit's text, its edit count
and the time of its last edit follow, and every version of its text is kept (``MessageEdit``), sealed as its
content is and gone with it.

An edit is recorded once by its channel, message id and number, so a redelivery changes nothing and edits
arriving out of order end at the highest number. One whose message is not stored yet waits, as a status
does, and is applied when that message appears (``edits_follow``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.db import rows_insert
from encryption.blind_index import blind_index_candidates
from encryption.errors import DecryptionError
from messaging.lifetimes import content_key_day, lifetimes_for
from messaging.models import PARKED_STATUS_WINDOW, Channel, Direction, Message, MessageEdit
from messaging.providers.events import EditOf
from messaging.providers.registry import content_edited, message_public


@dataclass(frozen=True, slots=True, kw_only=True)
class EditReport:
    """One edit as a webhook reported it, on the channel it came through."""

    channel: Channel
    edit: EditOf
    provider_timestamp: datetime
    received_at: datetime


def edits_apply(reports: Sequence[EditReport]) -> int:
    """Record the edits not recorded yet, then apply them to their messages that are stored; returns how many
    were new. Runs inside the storing transaction, after the delivery's messages are stored."""
    if not reports:
        return 0
    rows: dict[tuple[uuid.UUID, str, int], MessageEdit] = {}
    for report in reports:
        number = report.edit.number if report.edit.number and report.edit.number > 0 else _next_number(report, rows)
        if number is not None:
            rows.setdefault((report.channel.pk, report.edit.original_id, number), _parked_row(report, number))
    recorded = rows_insert(list(rows.values()))
    by_channel: dict[uuid.UUID, tuple[Channel, set[str]]] = {}
    for report in reports:
        by_channel.setdefault(report.channel.pk, (report.channel, set()))[1].add(report.edit.original_id)
    for channel, original_ids in by_channel.values():
        _apply_on_channel(channel, original_ids)
    return len(recorded)


def edits_follow(*, messages: Sequence[Message]) -> None:
    """Apply the edits that arrived before these inbound messages were stored (on the channels that have any
    waiting at all, so most deliveries pay one small query)."""
    by_channel: dict[uuid.UUID, tuple[Channel, set[str]]] = {}
    for message in messages:
        if message.provider_message_id:
            by_channel.setdefault(message.channel_id, (message.channel, set()))[1].add(message.provider_message_id)
    if not by_channel:
        return
    waiting = set(
        MessageEdit.objects.filter(channel_id__in=list(by_channel), message__isnull=True)
        .values_list("channel_id", flat=True)
        .distinct()
    )
    for channel_id in waiting:
        channel, original_ids = by_channel[channel_id]
        _apply_on_channel(channel, original_ids)


def _next_number(report: EditReport, batch: dict[tuple[uuid.UUID, str, int], MessageEdit]) -> int | None:
    """The number of an edit the platform does not count (WhatsApp): the one after those recorded, or None when
    an edit made at the same moment is recorded already (a redelivery)."""
    channel, original_id = report.channel, report.edit.original_id
    candidates = _candidates(MessageEdit, channel, {original_id})
    known = list(
        MessageEdit.objects.filter(channel=channel, provider_message_index__in=list(candidates)).values_list(
            "number", "provider_timestamp"
        )
    )
    known += [
        (number, row.provider_timestamp)
        for (channel_id, edited, number), row in batch.items()
        if (channel_id, edited) == (channel.pk, original_id)
    ]
    if any(number > 0 and at == report.provider_timestamp for number, at in known):
        return None
    return max((number for number, _ in known), default=0) + 1


def _parked_row(report: EditReport, number: int) -> MessageEdit:
    channel = report.channel
    lifetimes = lifetimes_for(tenant_id=channel.tenant_id, channel_id=channel.pk)
    return MessageEdit(
        tenant_id=channel.tenant_id,
        channel=channel,
        received_at=report.received_at,
        provider_timestamp=report.provider_timestamp,
        provider_message_id=report.edit.original_id,
        number=number,
        text=report.edit.text,
        content_key_day=content_key_day(written_at=report.received_at, lifetimes=lifetimes),
        expires_at=report.received_at + PARKED_STATUS_WINDOW,
    )


def _apply_on_channel(channel: Channel, original_ids: set[str]) -> None:
    """Each stored inbound message among ``original_ids`` takes its waiting edits (its row locked meanwhile)."""
    candidates = _candidates(Message, channel, original_ids)
    messages = (
        Message.objects.filter(
            channel=channel, direction=Direction.INBOUND, provider_message_index__in=list(candidates)
        )
        .order_by("pk")
        .select_for_update(of=("self",))
    )
    found = {candidates[bytes(message.provider_message_index)]: message for message in messages}
    for message in found.values():
        message.channel = channel
    if not found:
        return
    edit_candidates = _candidates(MessageEdit, channel, set(found))
    edits: dict[str, list[MessageEdit]] = defaultdict(list)
    for edit in MessageEdit.objects.filter(channel=channel, provider_message_index__in=list(edit_candidates)):
        edits[edit_candidates[bytes(edit.provider_message_index)]].append(edit)
    for original_id, message in found.items():
        _attach(message, original_id, edits[original_id])


def _attach(message: Message, original_id: str, edits: list[MessageEdit]) -> None:
    """The waiting edits become the message's; version 0 keeps its text from before the first edit, and the
    highest number's text becomes its content's."""
    waiting = [edit for edit in edits if edit.message_id is None]
    if not waiting:
        return
    platform = message.channel.platform
    content = _content_or_none(message)
    expiry = message.content_expires_at
    if message.edit_count == 0 and content is not None:
        rows_insert([_original_version(message, original_id, content)])
    for edit in waiting:
        MessageEdit.objects.filter(pk=edit.pk).update(
            message=message, expires_at=expiry if expiry is not None else edit.expires_at
        )
    newest = max(edits, key=lambda edit: edit.number)
    if newest.number <= message.edit_count:
        return  # an older edit, arrived late: kept as a version, the content stays the newer one
    fields = ["edit_count", "edited_at", "updated_at"]
    if content is not None and newest.text is not None:
        message.content = content_edited(platform=platform, content=content, text=newest.text)
        fields.append("content")
    message.edit_count = newest.number
    message.edited_at = newest.provider_timestamp
    message.save(update_fields=fields)


def _original_version(message: Message, original_id: str, content: object) -> MessageEdit:
    platform = message.channel.platform
    return MessageEdit(
        tenant_id=message.tenant_id,
        channel_id=message.channel_id,
        message=message,
        received_at=message.received_at,
        provider_timestamp=message.provider_timestamp,
        provider_message_id=original_id,
        number=0,
        text=message_public(platform=platform, message_type=message.message_type, content=content).text,
        content_key_day=message.content_key_day,
        expires_at=message.content_expires_at or message.received_at + PARKED_STATUS_WINDOW,
    )


def _content_or_none(message: Message) -> object:
    """The message's content when it is still served (not expired, unsent, purged or unreadable)."""
    try:
        return message.content
    except DecryptionError:  # expired content raises a subclass of it too
        return None


def _candidates(model: type[Message] | type[MessageEdit], channel: Channel, values: set[str]) -> dict[bytes, str]:
    """Every index value each provider id has under the tenant's readable keys, mapped back to the id."""
    return {
        candidate: value
        for value in values
        for candidate in blind_index_candidates(
            model, "provider_message_index", tenant_id=channel.tenant_id, value=value
        )
    }
