"""A delivery's claimed items, sorted by how they are stored."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from messaging.contacts import ContactWanted
from messaging.inbound.accounts import AccountTargets
from messaging.inbound.edits import EditReport
from messaging.inbound.notices import OneByOne
from messaging.inbound.store.drafts import MessageDraft, message_draft
from messaging.models import Channel
from messaging.providers.events import (
    AccountNotice,
    AddressBookEvent,
    MessageEvent,
    NeutralEvent,
    ReceiptEvent,
    StatusEvent,
    UnreadableEvent,
)
from messaging.statuses import StatusReport


@dataclass(slots=True)
class SortedItems:
    """A delivery's items, sorted by how they are stored."""

    drafts: list[MessageDraft] = field(default_factory=list)
    statuses: list[StatusReport] = field(default_factory=list)
    unsent: list[tuple[Channel, str]] = field(default_factory=list)
    address_book: list[tuple[Channel, AddressBookEvent]] = field(default_factory=list)
    edits: list[EditReport] = field(default_factory=list)
    receipts: list[tuple[Channel, ReceiptEvent]] = field(default_factory=list)
    one_by_one: list[tuple[Channel, OneByOne]] = field(default_factory=list)
    accounts: AccountTargets = field(default_factory=list)
    # the channels shown to share their number with the Business app
    coexistence: dict[uuid.UUID, Channel] = field(default_factory=dict)


def item_sort(batch: SortedItems, channel: Channel, event: NeutralEvent, received_at: datetime) -> None:
    if isinstance(event, AddressBookEvent) or (isinstance(event, MessageEvent) and event.is_coexistence):
        batch.coexistence[channel.pk] = channel
    if isinstance(event, MessageEvent):
        batch.drafts.append(message_draft(channel, event))
        if event.takes_back is not None:
            batch.unsent.append((channel, event.takes_back))
        if event.edits is not None:
            batch.edits.append(
                EditReport(
                    channel=channel,
                    edit=event.edits,
                    provider_timestamp=event.provider_timestamp,
                    received_at=received_at,
                )
            )
    elif isinstance(event, AddressBookEvent):
        batch.address_book.append((channel, event))
    elif isinstance(event, StatusEvent):
        batch.statuses.append(_status_report(channel, event, received_at))
    elif isinstance(event, ReceiptEvent):
        batch.receipts.append((channel, event))
    elif not isinstance(event, UnreadableEvent | AccountNotice):
        batch.one_by_one.append((channel, event))


def watermark_people(batch: SortedItems) -> list[ContactWanted]:
    """The people of the receipts with a watermark: their messages up to it are covered."""
    people = []
    for channel, receipt in batch.receipts:
        if receipt.watermark is not None and receipt.user_id:
            people.append(ContactWanted(channel=channel, external_id=receipt.user_id))
    return people


def _status_report(channel: Channel, event: StatusEvent, received_at: datetime) -> StatusReport:
    return StatusReport(
        channel=channel,
        provider_message_id=event.provider_message_id,
        status=event.status,
        provider_timestamp=event.provider_timestamp,
        received_at=received_at,
        errors=list(event.errors),
        pricing=event.pricing,
        callback_data=event.callback_data,
    )
