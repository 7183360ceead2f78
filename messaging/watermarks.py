"""Messenger and Instagram watermarks: a receipt saying every message sent to a person up to a time was
delivered (or read). It moves the messages Meta has that it covers, through the status engine, and is kept
(``ParkedReceipt``, the highest per status) for the messages that appear after it: an echo stored late, a send
Meta accepts after the receipt came."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.db import rows_insert
from messaging.models import Channel, Contact, Direction, Message, MessageStatus, ParkedReceipt
from messaging.statuses import STATUS_MESSAGE_FIELDS, StatusReport, predecessors, statuses_record


@dataclass(frozen=True, slots=True, kw_only=True)
class Watermark:
    """Every message the business sent ``contact`` on ``channel`` up to ``watermark`` reached ``status``."""

    channel: Channel
    contact: Contact
    status: str
    watermark: datetime
    provider_timestamp: datetime
    received_at: datetime

    def report(self) -> StatusReport:
        return StatusReport(
            channel=self.channel,
            provider_message_id="",
            status=self.status,
            provider_timestamp=self.provider_timestamp,
            received_at=self.received_at,
        )


def watermark_apply(watermark: Watermark) -> Counter[str]:
    """Move the messages it covers that Meta has (a provider id) and that its status moves forward, then keep it
    for those that appear later (``parked_statuses_apply``): one row per status, the highest watermark."""
    if watermark.status not in MessageStatus.values:
        return Counter(unknown_status=1)
    covered = Message.objects.filter(
        channel=watermark.channel,
        contact=watermark.contact,
        direction=Direction.OUTBOUND,
        provider_message_index__isnull=False,
        provider_timestamp__lte=watermark.watermark,
        status__in=predecessors(watermark.status),
    ).only(*STATUS_MESSAGE_FIELDS)
    report = watermark.report()
    outcomes = statuses_record([(message, report) for message in covered])
    _receipt_park(watermark)
    return outcomes


def _receipt_park(watermark: Watermark) -> None:
    row = ParkedReceipt(
        tenant_id=watermark.channel.tenant_id,
        channel=watermark.channel,
        contact=watermark.contact,
        status=watermark.status,
        watermark=watermark.watermark,
        provider_timestamp=watermark.provider_timestamp,
        received_at=watermark.received_at,
    )
    if not rows_insert([row]):
        ParkedReceipt.objects.filter(
            channel=watermark.channel,
            contact=watermark.contact,
            status=watermark.status,
            watermark__lt=watermark.watermark,
        ).update(
            watermark=watermark.watermark,
            provider_timestamp=watermark.provider_timestamp,
            received_at=watermark.received_at,
        )


def parked_receipts_apply(*, messages: Sequence[Message]) -> int:
    """The kept watermarks that cover these outbound messages, now stored or accepted (one query)."""
    if not messages:
        return 0
    receipts = ParkedReceipt.objects.filter(
        channel_id__in={message.channel_id for message in messages},
        contact_id__in={message.contact_id for message in messages},
    )
    by_pair: dict[tuple[uuid.UUID, uuid.UUID], list[ParkedReceipt]] = defaultdict(list)
    for receipt in receipts:
        by_pair[(receipt.channel_id, receipt.contact_id)].append(receipt)
    pairs = [
        (
            message,
            StatusReport(
                channel=message.channel,
                provider_message_id="",
                status=receipt.status,
                provider_timestamp=receipt.provider_timestamp,
                received_at=receipt.received_at,
            ),
        )
        for message in messages
        for receipt in by_pair[(message.channel_id, message.contact_id)]
        if message.provider_timestamp <= receipt.watermark
    ]
    statuses_record(pairs)
    return len(pairs)
