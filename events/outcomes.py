"""What a batch of attempts' outcomes do, written in one transaction: each delivery's next state (one statement),
one row of the delivery log each (one insert), and the endpoint's health once (a success clears
``failing_since``; a 410, or failing for longer than GATEWAY_EVENTS_DISABLE_AFTER_HOURS, disables it, audited and
logged as a warning for the operators).

A delivery moves only if this batch still holds it: the write requires the batch's ``lease_token`` (a lease that
expired and was taken again, even after a replay counted its attempts from zero, carries another), so a late
outcome never overwrites a newer attempt's. The late attempt is still logged: it was made.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, router, transaction

from audit.models import AuditAction
from audit.services import audit_record
from core.bulk import ColumnChange, RowCondition, quoted_column, rows_update_where
from core.db import rows_insert
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


@dataclass(frozen=True, slots=True)
class Attempted:
    """One attempt a batch made: the delivery, the number of the attempt, when it started and what came of it."""

    delivery: EventDelivery
    attempt: int
    attempted_at: datetime
    outcome: Outcome


def outcomes_record(
    endpoint: Endpoint, attempted: Sequence[Attempted], *, token: uuid.UUID, now: datetime
) -> list[str]:
    """Record the outcomes of a batch's attempts at ``endpoint``, in the order they were made, over ``now`` (the
    next attempts count from then): the deliveries' moves in one statement, the log in one insert, the endpoint's
    health once. Returns a word per attempt for the task's counts: ``stale`` for a delivery this batch no longer
    held (its lease expired and another worker took it: its outcome is the one that counts)."""
    if not attempted:
        return []
    verdicts = [outcome_verdict(item.outcome, attempts=item.attempt, now=now) for item in attempted]
    with transaction.atomic():
        moved = _deliveries_move(attempted, verdicts, token=token, now=now)
        rows_insert([_log_row(item, verdict) for item, verdict in zip(attempted, verdicts, strict=True)])
        _endpoint_health(endpoint, [item.outcome for item in attempted], now)
    stale = len(attempted) - len(moved)
    if stale:
        logger.warning("event delivery outcomes refused: lease no longer held", extra={"deliveries": stale})
    return [
        verdict.word if item.delivery.pk in moved else "stale"
        for item, verdict in zip(attempted, verdicts, strict=True)
    ]


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


def _deliveries_move(
    attempted: Sequence[Attempted], verdicts: Sequence[Verdict], *, token: uuid.UUID, now: datetime
) -> set[uuid.UUID]:
    """Each delivery to its verdict's state, where this batch's lease still holds it; the ids moved."""
    rows: dict[uuid.UUID, dict[str, object]] = {}
    for item, verdict in zip(attempted, verdicts, strict=True):
        row: dict[str, object] = {"status": verdict.status.value}
        if verdict.status == DeliveryStatus.DELIVERED:
            row["delivered_at"] = now
        if verdict.next_attempt_at is not None:
            row["next_attempt_at"] = verdict.next_attempt_at
        rows[item.delivery.pk] = row
    changes, same = _columns_split(rows)
    same.update({"lease_expires_at": ColumnChange.to(None), "lease_token": ColumnChange.to(None)})
    connection = connections[router.db_for_write(EventDelivery)]
    status, lease_token = (quoted_column(EventDelivery, name, connection) for name in ("status", "lease_token"))
    token_value = EventDelivery._meta.get_field("lease_token").get_db_prep_value(token, connection)
    held = RowCondition(f"{status} = %s AND {lease_token} = %s", (DeliveryStatus.DELIVERING.value, token_value))
    return rows_update_where(EventDelivery, changes, where=held, same=same)


def _columns_split(
    rows: dict[uuid.UUID, dict[str, object]],
) -> tuple[dict[uuid.UUID, dict[str, ColumnChange]], dict[str, ColumnChange]]:
    """Columns every row sets to one value become ``same`` changes (no CASE); the rest stay per row."""
    names = {name for row in rows.values() for name in row}
    shared = {
        name
        for name in names
        if all(name in row for row in rows.values()) and len({row[name] for row in rows.values()}) == 1
    }
    first = next(iter(rows.values()))
    same = {name: ColumnChange.to(first[name]) for name in shared}
    changes = {
        pk: {name: ColumnChange.to(value) for name, value in row.items() if name not in shared}
        for pk, row in rows.items()
    }
    return changes, same


def _failing_clear(endpoint: Endpoint) -> None:
    """The endpoint's failure clock stopped, if it runs: after every successful batch, so one statement built by
    hand (the ORM's compiling of this UPDATE cost more than the statement)."""
    connection = connections[router.db_for_write(Endpoint)]
    table = connection.ops.quote_name(Endpoint._meta.db_table)
    pk, failing_since = (quoted_column(Endpoint, name, connection) for name in ("id", "failing_since"))
    key = Endpoint._meta.get_field("id").get_db_prep_value(endpoint.pk, connection)
    with connection.cursor() as cursor:
        # Names come from the model's metadata, quoted; the value is a parameter.
        cursor.execute(
            f"UPDATE {table} SET {failing_since} = NULL WHERE {pk} = %s AND {failing_since} IS NOT NULL",  # noqa: S608
            [key],
        )


def _log_row(item: Attempted, verdict: Verdict) -> DeliveryAttempt:
    delivery, outcome = item.delivery, item.outcome
    return DeliveryAttempt(
        tenant_id=delivery.tenant_id,
        delivery_id=delivery.pk,
        endpoint_id=delivery.endpoint_id,
        attempted_at=item.attempted_at,
        status_code=outcome.status_code,
        error=outcome.error,
        latency_ms=outcome.latency_ms,
        response_excerpt=outcome.excerpt,
        next_attempt_at=verdict.next_attempt_at if verdict.status == DeliveryStatus.PENDING else None,
    )


def _endpoint_health(endpoint: Endpoint, outcomes: Sequence[Outcome], now: datetime) -> None:
    """The endpoint after a batch's answers, in their order: a 410 disables it; ending on a success clears its
    failure clock; ending on failures starts it (again, if a success came earlier in the batch) and disables the
    endpoint once it has run past the limit."""
    if any(outcome.status_code == GONE for outcome in outcomes):
        endpoint_disable(endpoint, reason=REASON_GONE, now=now)
        return
    succeeded = [index for index, outcome in enumerate(outcomes) if outcome.is_success]
    if succeeded and succeeded[-1] == len(outcomes) - 1:
        _failing_clear(endpoint)
        return
    failing = Endpoint.objects.filter(pk=endpoint.pk)
    (failing if succeeded else failing.filter(failing_since__isnull=True)).update(failing_since=now)
    limit = timedelta(hours=settings.GATEWAY_EVENTS_DISABLE_AFTER_HOURS)
    if Endpoint.objects.filter(pk=endpoint.pk, failing_since__lte=now - limit).exists():
        endpoint_disable(endpoint, reason=REASON_FAILING, now=now)
