"""Storing one delivery: each item routed by its own id through the app it came on, all of them in one
transaction."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from django.db import transaction

from core.batch_memo import batch_memoized
from core.db import commit_without_waiting_for_disk
from messaging.contacts import ContactWanted, contacts_resolve, numbers_changed_link
from messaging.inbound.accounts import account_channels_of, account_notices_store, account_refusal
from messaging.inbound.address_book import address_book_apply, address_book_wanted
from messaging.inbound.edits import edits_apply
from messaging.inbound.notices import one_store, quarantine, receipt_store
from messaging.inbound.store.coexistence import coexistence_mark
from messaging.inbound.store.messages import messages_store
from messaging.inbound.store.sorting import SortedItems, item_sort, watermark_people
from messaging.inbound.store.stamps import drafts_stamped
from messaging.inbound.store.unsent import unsent_blank
from messaging.models import Channel, MetaApp
from messaging.providers.delivery import ParsedDelivery
from messaging.providers.events import AccountNotice, NeutralEvent, UnhandledEvent, UnreadableEvent
from messaging.providers.registry import delivery_events
from messaging.statuses import statuses_apply


def delivery_items_store(
    *,
    meta_app: MetaApp,
    delivery_id: uuid.UUID,
    parsed: ParsedDelivery,
    received_at: datetime,
    then: Callable[[], None] | None = None,
) -> Counter[str]:
    """Store every item of one delivery; returns how many ended each way (stored, duplicate, ...).

    ``then`` runs inside the storing transaction (marking the delivery processed), so the items and that
    mark commit together. Everything here can be rebuilt from the raw delivery, so when this is the
    outermost transaction its commit does not wait for the disk.
    """
    outcomes: Counter[str] = Counter()
    events = delivery_events(parsed)
    channels = _channels_of(meta_app, events)
    account_channels = account_channels_of(meta_app, events)
    batch = SortedItems()
    for event in events:
        if isinstance(event, AccountNotice):
            targets = account_channels.get((event.platform, event.routing_id or ""), [])
            refusal = account_refusal(event, targets)
            if refusal is not None:
                outcomes[quarantine(meta_app, delivery_id, event, refusal, received_at)] += 1
            else:
                batch.accounts.append((targets, event))
            continue
        channel = None if isinstance(event, UnreadableEvent) else channels.get((event.platform, event.routing_id or ""))
        if isinstance(event, UnreadableEvent) or channel is None:
            outcomes[quarantine(meta_app, delivery_id, event, _unclaimed_reason(event), received_at)] += 1
        else:
            item_sort(batch, channel, event, received_at)
    drafts = [draft for draft, _ in drafts_stamped(batch.drafts, received_at)]  # past history is not imported
    outcomes["history_expired"] += len(batch.drafts) - len(drafts)
    # New contacts (each with its own subject key) commit on their own first, so their keys are cached
    # for the rest of the delivery; a contact left without messages by a failure below is harmless.
    people = [draft.person for draft in drafts] + address_book_wanted(batch.address_book)
    people += [draft.changed_to for draft in drafts if draft.changed_to]
    people += watermark_people(batch)
    contacts = contacts_resolve(people)
    relaxed = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        if relaxed:
            commit_without_waiting_for_disk()
        outcomes += messages_store(drafts, contacts=contacts, received_at=received_at)
        numbers_changed_link(
            [(contacts[draft.person.key], contacts[draft.changed_to.key]) for draft in drafts if draft.changed_to]
        )
        unsent_blank(batch.unsent)
        edits_apply(batch.edits)
        outcomes += Counter(address_book_apply(batch.address_book, contacts=contacts))
        coexistence_mark(list(batch.coexistence.values()))
        outcomes += statuses_apply(batch.statuses)
        for channel, receipt in batch.receipts:
            person = ContactWanted(channel=channel, external_id=receipt.user_id) if receipt.user_id else None
            outcomes[receipt_store(channel, receipt, contacts.get(person.key) if person else None, received_at)] += 1
        for channel, item in batch.one_by_one:
            outcomes[one_store(channel, item, received_at, meta_app, delivery_id)] += 1
        outcomes += account_notices_store(batch.accounts, received_at)
        if then is not None:
            then()
    return +outcomes


def _unclaimed_reason(event: NeutralEvent) -> str:
    """Why an event no channel takes is held: unreadable, a field with no place (named), or no channel."""
    if isinstance(event, UnreadableEvent):
        return "unreadable"
    return event.reason if isinstance(event, UnhandledEvent) else "no_channel"


def _channels_of(meta_app: MetaApp, events: Sequence[NeutralEvent]) -> dict[tuple[str, str], Channel]:
    """The channels this app reaches that the events name: one query per delivery, or per task batch for the
    deliveries of a batch that name the same channels."""
    routing_ids = {
        event.routing_id
        for event in events
        if not isinstance(event, UnreadableEvent | AccountNotice) and event.routing_id
    }
    if not routing_ids:
        return {}

    def lookup() -> dict[tuple[str, str], Channel]:
        channels = Channel.objects.filter(meta_app=meta_app, provider_id__in=routing_ids).select_related("tenant")
        return {(channel.platform, channel.provider_id): channel for channel in channels}

    return batch_memoized(("inbound-channels", meta_app.pk, frozenset(routing_ids)), lookup)
