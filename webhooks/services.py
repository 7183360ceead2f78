from __future__ import annotations

import functools
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from audit.models import AuditAction
from audit.services import audit_record
from core.db import row_insert, write_without_health_check
from core.metrics import metric_increment
from core.tasks import enqueue_batched_on_commit, enqueue_on_commit, registered_task
from messaging.inbound.store.delivery import delivery_items_store
from messaging.lifetimes import lifetimes_for, raw_expires_at
from messaging.providers.items import ParseProblem
from messaging.providers.registry import parse_webhook
from webhooks.models import Delivery, DeliveryStatus

logger = logging.getLogger(__name__)

PROCESS_DELIVERY_TASK = "ingest.process_delivery"
PROCESS_DELIVERIES_TASK = "ingest.process_deliveries"


def delivery_record(
    *, meta_app_id: uuid.UUID, tenant_id: uuid.UUID | None, body: bytes, signature: str, arrived: float | None = None
) -> Delivery:
    """Store the raw body, encrypted under the app owner's raw-delivery key, then enqueue its processing.

    One INSERT in autocommit, the request's only query: the row is durable before the publish and before Meta
    gets its 200. If the publish is lost, the sweeper finds the delivery still ``received``. Its expiry comes
    from the owner's policy, cached in process (no query per request). The INSERT is idempotent by its id, so a
    connection found dead is simply replaced and the INSERT made again (instead of a health check per request).
    ``arrived`` is the ``time.perf_counter()`` of the request reaching the view: the row keeps how long reading,
    checking and encrypting took before the INSERT (the acknowledgement latency, less the INSERT itself)."""
    received_at = timezone.now()
    delivery = Delivery(
        meta_app_id=meta_app_id,
        tenant_id=tenant_id,
        received_at=received_at,
        signature=signature,
        body_bytes=len(body),
        body=body,
        ack_ms=None if arrived is None else round((time.perf_counter() - arrived) * 1000),
        expires_at=raw_expires_at(received_at=received_at, lifetimes=lifetimes_for(tenant_id=tenant_id)),
    )
    write_without_health_check(functools.partial(row_insert, delivery))
    enqueue_batched_on_commit(registered_task(PROCESS_DELIVERIES_TASK), delivery.pk)
    return delivery


def delivery_process(*, delivery_id: uuid.UUID) -> Counter[str]:
    """Parse a stored delivery and store each of its items. Safe to run twice, or twice at once."""
    delivery = Delivery.objects.select_related("meta_app").get(pk=delivery_id)
    if delivery.status == DeliveryStatus.PROCESSED:
        return Counter({"already_processed": 1})
    parsed = parse_webhook(delivery.body)
    if parsed.has_problems and not parsed.items:
        _unreadable(delivery.pk, parsed.problems[0])

    def mark_processed() -> None:
        Delivery.objects.filter(pk=delivery.pk).exclude(status=DeliveryStatus.PROCESSED).update(
            status=DeliveryStatus.PROCESSED, processed_at=timezone.now()
        )

    outcomes = delivery_items_store(
        meta_app=delivery.meta_app,
        delivery_id=delivery.pk,
        parsed=parsed,
        received_at=delivery.received_at,
        then=mark_processed,
    )
    outcomes["problems"] = len(parsed.problems)
    return outcomes


def _unreadable(delivery_id: uuid.UUID, problem: ParseProblem) -> None:
    """A signed body refused as a whole (not JSON, nested too deep, an unknown object): processed with nothing
    stored, never retried (it would fail the same way); the raw delivery stays for its retention."""
    metric_increment("gateway_webhook_deliveries_unreadable")
    logger.warning(
        "webhook delivery unreadable",
        extra={"delivery_id": str(delivery_id), "path": problem.path, "reason": problem.reason[:120]},
    )


def deliveries_requeue_stale(*, older_than: timedelta) -> int:
    """Publish again every delivery stored but still unprocessed after ``older_than`` (a lost broker message)."""
    cutoff = timezone.now() - older_than
    stale = Delivery.objects.filter(
        status=DeliveryStatus.RECEIVED, received_at__lt=cutoff, attempts__lt=settings.GATEWAY_DELIVERY_MAX_ATTEMPTS
    ).order_by("received_at")
    ids = list(stale.values_list("pk", flat=True)[:1000])
    for delivery_id in ids:
        enqueue_on_commit(registered_task(PROCESS_DELIVERY_TASK), delivery_id)
    return len(ids)


# --- attempts and the dead letter ----------------------------------------------------------------------


def delivery_attempt_start(*, delivery_id: uuid.UUID, is_retry: bool = False) -> int | None:
    """Count one more processing run of a delivery still waiting (a retry of the same run is not counted);
    its attempts so far, or None when it is already processed, failed or gone: nothing to do then.

    One statement in autocommit (``UPDATE … RETURNING``, or the ``SELECT`` of a retry): the count is committed
    before the run starts, as the sweeper's dead-lettering relies on."""
    if is_retry:
        attempts: int | None = (
            Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.RECEIVED)
            .values_list("attempts", flat=True)
            .first()
        )
        return attempts
    return _attempts_counted(delivery_id)


def _attempts_counted(delivery_id: uuid.UUID) -> int | None:
    """``attempts + 1`` on the delivery when it is still ``received``, returning the new count (the ORM's
    ``update`` returns no columns, which took a transaction and a second query)."""
    connection = transaction.get_connection()
    fields = {field.name: field for field in Delivery._meta.concrete_fields}
    table, (pk, status, attempts, updated_at) = (
        connection.ops.quote_name(Delivery._meta.db_table),
        [connection.ops.quote_name(fields[name].column) for name in ("id", "status", "attempts", "updated_at")],
    )
    sql = (
        f"UPDATE {table} SET {attempts} = {attempts} + 1, {updated_at} = %s"  # noqa: S608 - quoted names from the model's metadata
        f" WHERE {pk} = %s AND {status} = %s RETURNING {attempts}"
    )
    values = (
        fields["updated_at"].get_db_prep_value(timezone.now(), connection),
        fields["id"].get_db_prep_value(delivery_id, connection),
        DeliveryStatus.RECEIVED.value,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def delivery_fail(*, delivery_id: uuid.UUID, attempts: int, error: str) -> bool:
    """Dead-letter a delivery: ``failed`` is never requeued by the sweeper, only by an operator.

    ``error`` is an exception class name: messages and tracebacks can quote the body, so they are not logged.
    False when the delivery was processed meanwhile (a slow run finished after all).
    """
    failed = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.RECEIVED).update(
        status=DeliveryStatus.FAILED, updated_at=timezone.now()
    )
    if failed:
        metric_increment("gateway_webhook_deliveries_failed")
        logger.error(
            "webhook delivery failed, not retried again",
            extra={"delivery_id": str(delivery_id), "attempts": attempts, "error": error},
        )
    return bool(failed)


def deliveries_fail_exhausted(*, older_than: timedelta) -> int:
    """Dead-letter deliveries that used every attempt without finishing (a run killed the worker, or timed
    out): the task never got to mark them, and requeueing them again would loop forever.

    A run may still be going for up to the task time limit, so the last attempt must be older than that.
    """
    quiet_for = max(older_than, timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT))
    exhausted = Delivery.objects.filter(
        status=DeliveryStatus.RECEIVED,
        attempts__gte=settings.GATEWAY_DELIVERY_MAX_ATTEMPTS,
        updated_at__lt=timezone.now() - quiet_for,
    )
    rows = list(exhausted.values_list("pk", "attempts")[:1000])
    return sum(delivery_fail(delivery_id=pk, attempts=attempts, error="exhausted") for pk, attempts in rows)


def deliveries_requeue_failed(*, delivery_ids: Iterable[uuid.UUID], actor: Actor) -> int:
    """Give failed deliveries a fresh set of attempts (once the cause is fixed); each requeue is audited.

    Deliveries that are not ``failed`` are left alone. Returns how many were requeued.
    """
    with transaction.atomic():
        failed = list(
            Delivery.objects.select_for_update()
            .filter(pk__any_of=list(delivery_ids), status=DeliveryStatus.FAILED)
            .values_list("pk", "tenant_id", "attempts")
        )
        Delivery.objects.filter(pk__any_of=[pk for pk, _, _ in failed]).update(
            status=DeliveryStatus.RECEIVED, attempts=0, updated_at=timezone.now()
        )
        for delivery_id, tenant_id, attempts in failed:
            audit_record(
                action=AuditAction.DELIVERY_REQUEUED,
                tenant_id=tenant_id,
                actor_id=actor.user_id,
                actor_label=actor.label,
                ip=actor.ip,
                target_type="delivery",
                target_id=str(delivery_id),
                details={"previous_attempts": attempts},
            )
            enqueue_on_commit(registered_task(PROCESS_DELIVERY_TASK), delivery_id)
    return len(failed)
