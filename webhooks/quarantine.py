"""Replaying quarantined webhook items once a channel claims them.

The quarantine keeps each unrouted item encrypted, but the source of truth is the raw delivery: a replay
parses it again, picks the item at the quarantined path and stores it through the same inbound code, so
routing (by the delivery's own Meta app only), deduplication and tenancy are exactly the pipeline's.
Replaying is possible while the raw delivery is kept (GATEWAY_RAW_DELIVERY_DAYS).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.actors import Actor
from audit.models import AuditAction
from audit.services import audit_record
from core.metrics import metric_increment
from encryption.errors import DecryptionError
from messaging.inbound.store.delivery import delivery_items_store
from messaging.models import QuarantinedItem
from messaging.providers.delivery import DeliveryItem, ParsedDelivery
from messaging.providers.registry import parse_webhook
from webhooks.models import Delivery

REPLAYED = "replayed"
STILL_QUARANTINED = "still_quarantined"
ALREADY_REPLAYED = "already_replayed"


class QuarantineReplayError(Exception):
    """An item that cannot be replayed; the message names ids only and is fit to show an operator."""


@dataclass(frozen=True)
class ReplayResult:
    item_id: uuid.UUID
    outcome: str  # REPLAYED, STILL_QUARANTINED or ALREADY_REPLAYED
    detail: str  # what storing did ("stored", "status", ...), or why the item is still held

    @property
    def message(self) -> str:
        if self.outcome == REPLAYED:
            return f"replayed: {self.detail}"
        if self.outcome == ALREADY_REPLAYED:
            return f"already replayed earlier ({self.detail})"
        return f"still routes nowhere ({self.detail}); kept in quarantine"


class _StillHeldError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def quarantined_items_pending() -> QuerySet[QuarantinedItem]:
    """Items not replayed yet, oldest first."""
    return QuarantinedItem.objects.filter(replayed_at__isnull=True).order_by("received_at", "item_path")


def quarantined_item_replay(*, item_id: uuid.UUID, actor: Actor) -> ReplayResult:
    """Store the item again now; marked replayed if it routes, kept (and said so) if it still does not.

    Raises QuarantineReplayError when the item or its raw delivery is gone or can no longer be read.
    Each replay that reaches the inbound code is audited on the app owner's chain (ids and outcomes only).
    """
    with transaction.atomic():
        held = QuarantinedItem.objects.select_for_update().filter(pk=item_id).first()
        if held is None:
            raise QuarantineReplayError(f"no quarantined item {item_id}")
        if held.replayed_at is not None:
            return ReplayResult(held.pk, ALREADY_REPLAYED, held.replay_outcome)
        delivery = _raw_delivery(held)
        item = _original_item(held, delivery)
        result = _store_again(held, item, delivery)
        audit_record(
            action=AuditAction.QUARANTINE_REPLAYED,
            tenant_id=held.tenant_id,
            actor_id=actor.user_id,
            actor_label=actor.label,
            ip=actor.ip,
            target_type="quarantined_item",
            target_id=str(held.pk),
            details={"delivery_id": str(delivery.pk), "outcome": result.outcome, "detail": result.detail},
        )
    metric_increment("gateway_webhook_quarantine_replays", outcome=result.outcome)
    return result


def _raw_delivery(held: QuarantinedItem) -> Delivery:
    delivery: Delivery | None = Delivery.objects.select_related("meta_app").filter(pk=held.delivery_id).first()
    if delivery is None:
        raise QuarantineReplayError(
            f"the raw delivery {held.delivery_id} of item {held.pk} is gone (raw bodies are kept "
            f"{settings.GATEWAY_RAW_DELIVERY_DAYS} days); it cannot be replayed"
        )
    if delivery.meta_app_id != held.meta_app_id:  # never expected: the quarantine copies the delivery's app
        raise QuarantineReplayError(f"item {held.pk} and its delivery {delivery.pk} name different Meta apps")
    return delivery


def _original_item(held: QuarantinedItem, delivery: Delivery) -> DeliveryItem:
    try:
        body = delivery.body
    except DecryptionError:
        raise QuarantineReplayError(
            f"the raw delivery {delivery.pk} of item {held.pk} can no longer be opened (its key was destroyed "
            "by retention); it cannot be replayed"
        ) from None
    for item in parse_webhook(body).items:
        if item.path[:128] == held.item_path:  # the quarantine stores the path cut to its column
            return item
    raise QuarantineReplayError(f"delivery {delivery.pk} no longer yields an item at {held.item_path}")


def _store_again(held: QuarantinedItem, item: DeliveryItem, delivery: Delivery) -> ReplayResult:
    original_path = held.item_path
    try:
        outcomes = _store_or_roll_back(held, item, delivery)
    except _StillHeldError as still:
        return ReplayResult(held.pk, STILL_QUARANTINED, still.reason)
    outcome = next(iter(outcomes), "none")
    QuarantinedItem.objects.filter(pk=held.pk).update(
        item_path=original_path, replayed_at=timezone.now(), replay_outcome=outcome[:32]
    )
    return ReplayResult(held.pk, REPLAYED, outcome)


def _store_or_roll_back(held: QuarantinedItem, item: DeliveryItem, delivery: Delivery) -> Counter[str]:
    """Store through the inbound code. The held row is moved off its (delivery, path) key first: an item
    that still routes nowhere is then quarantined afresh, which tells it apart from a routed duplicate; in
    that case the savepoint is rolled back and the held row stays exactly as it was."""
    with transaction.atomic():
        QuarantinedItem.objects.filter(pk=held.pk).update(item_path=f"replaying:{held.pk}")
        outcomes = delivery_items_store(
            meta_app=delivery.meta_app,
            delivery_id=delivery.pk,
            parsed=ParsedDelivery(items=(item,)),
            received_at=delivery.received_at,
        )
        if outcomes["quarantined"]:
            again = QuarantinedItem.objects.filter(delivery_id=delivery.pk, item_path=held.item_path)
            raise _StillHeldError(again.values_list("reason", flat=True).first() or held.reason)
    return outcomes
