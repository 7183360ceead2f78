"""What one attempt's outcome does, written in one transaction: the delivery's next state, one row of the delivery
log, and the endpoint's health (a success clears ``failing_since``; a 410, or failing for longer than
GATEWAY_EVENTS_DISABLE_AFTER_HOURS, disables it, audited and logged as a warning for the operators).

The delivery moves only if this worker still holds it: ``attempts`` is the lease's fencing token (a lease that
expired and was taken again carries a higher count), so a late outcome never overwrites a newer attempt's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from audit.models import AuditAction
from audit.services import audit_record
from events.models import DeliveryAttempt, DeliveryStatus, Endpoint, EventDelivery
from events.schedule import retry_after_delay, retry_delay
from events.transport import Outcome

logger = logging.getLogger(__name__)

GONE = 410
THROTTLED = frozenset({429, 503})
DELIVERY_ACTOR_LABEL = "event delivery"
REASON_GONE = "The endpoint answered 410 Gone."
REASON_FAILING = "Deliveries failed without a success for longer than the limit."


@dataclass(frozen=True)
class Verdict:
    status: DeliveryStatus
    next_attempt_at: datetime | None
    word: str  # for the task's counts


def outcome_record(delivery: EventDelivery, outcome: Outcome, *, attempted_at: datetime, now: datetime) -> str:
    """Record ``outcome`` of the attempt numbered ``delivery.attempts``, started at ``attempted_at`` and over
    ``now`` (the next attempt counts from then); returns a word for the task's counts."""
    verdict = outcome_verdict(outcome, attempts=delivery.attempts, now=now)
    with transaction.atomic():
        _delivery_move(delivery, verdict, now)
        DeliveryAttempt.objects.create(
            tenant_id=delivery.tenant_id,
            delivery=delivery,
            endpoint_id=delivery.endpoint_id,
            attempted_at=attempted_at,
            status_code=outcome.status_code,
            error=outcome.error,
            latency_ms=outcome.latency_ms,
            response_excerpt=outcome.excerpt,
            next_attempt_at=verdict.next_attempt_at if verdict.status == DeliveryStatus.PENDING else None,
        )
        _endpoint_health(delivery.endpoint, outcome, now)
    return verdict.word


def outcome_verdict(outcome: Outcome, *, attempts: int, now: datetime) -> Verdict:
    if outcome.is_success:
        return Verdict(DeliveryStatus.DELIVERED, None, "delivered")
    if outcome.status_code == GONE:
        return Verdict(DeliveryStatus.PENDING, now, "gone")  # waits for the endpoint to be enabled again
    scheduled = retry_delay(attempts)
    if scheduled is None:
        return Verdict(DeliveryStatus.FAILED, None, "failed")
    asked = retry_after_delay(outcome.retry_after, now=now) if outcome.status_code in THROTTLED else None
    return Verdict(DeliveryStatus.PENDING, now + (asked or scheduled), "retry")


def endpoint_disable(endpoint: Endpoint, *, reason: str, now: datetime) -> bool:
    """Disable ``endpoint`` (if enabled): audited on its tenant's chain and logged as a warning. Its pending
    deliveries wait; enabling it again, or a replay, brings them."""
    disabled = Endpoint.objects.filter(pk=endpoint.pk, is_enabled=True).update(
        is_enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now
    )
    if not disabled:
        return False
    audit_record(
        action=AuditAction.EVENT_ENDPOINT_DISABLED,
        tenant_id=endpoint.tenant_id,
        actor_label=DELIVERY_ACTOR_LABEL,
        target_type="event_endpoint",
        target_id=str(endpoint.pk),
        details={"reason": "gone" if reason == REASON_GONE else "failing"},
    )
    logger.warning(
        "event endpoint disabled", extra={"endpoint_id": str(endpoint.pk), "tenant_id": str(endpoint.tenant_id)}
    )
    return True


def _delivery_move(delivery: EventDelivery, verdict: Verdict, now: datetime) -> None:
    changes: dict[str, object] = {"status": verdict.status, "lease_expires_at": None}
    if verdict.status == DeliveryStatus.DELIVERED:
        changes["delivered_at"] = now
    if verdict.next_attempt_at is not None:
        changes["next_attempt_at"] = verdict.next_attempt_at
    EventDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.DELIVERING, attempts=delivery.attempts).update(
        **changes
    )


def _endpoint_health(endpoint: Endpoint, outcome: Outcome, now: datetime) -> None:
    if outcome.is_success:
        Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(failing_since=None)
        return
    if outcome.status_code == GONE:
        endpoint_disable(endpoint, reason=REASON_GONE, now=now)
        return
    Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    limit = timedelta(hours=settings.GATEWAY_EVENTS_DISABLE_AFTER_HOURS)
    if Endpoint.objects.filter(pk=endpoint.pk, failing_since__lte=now - limit).exists():
        endpoint_disable(endpoint, reason=REASON_FAILING, now=now)
