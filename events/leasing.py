"""Taking deliveries for a batch of attempts, and giving back what a batch did not attempt.

One statement leases every due delivery of a batch: pending and due → delivering, ``attempts`` + 1, a lease expiry
the relay watches and a ``lease_token`` new for the batch. The token says who holds a delivery: the outcome's write
requires it (events.outcomes), so a worker that stalled past its lease never overwrites the attempt of whoever
holds the delivery now, even after a replay has counted its attempts from zero again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, router
from django.db.models import F
from django.utils import timezone

from events.models import DeliveryStatus, EventDelivery


@dataclass(frozen=True, slots=True)
class Lease:
    token: uuid.UUID
    expires_at: datetime
    attempts: Mapping[uuid.UUID, int]  # each delivery leased → the number of the attempt it now makes


def deliveries_lease(delivery_ids: Sequence[uuid.UUID], *, now: datetime, seconds: int) -> Lease:
    """Lease those of ``delivery_ids`` still pending and due at ``now`` (one UPDATE … RETURNING); the others
    (taken meanwhile by another worker, postponed, replayed) are not in the lease."""
    lease = Lease(token=uuid.uuid4(), expires_at=now + timedelta(seconds=seconds), attempts={})
    if not delivery_ids:
        return lease
    connection = connections[router.db_for_write(EventDelivery)]
    quote = connection.ops.quote_name
    fields = {field.name: field for field in EventDelivery._meta.concrete_fields}
    keys = [fields["id"].get_db_prep_value(pk, connection) for pk in delivery_ids]
    # Names come from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {quote(EventDelivery._meta.db_table)} SET {quote('status')} = %s,"  # noqa: S608
        f" {quote('attempts')} = {quote('attempts')} + 1, {quote('lease_expires_at')} = %s,"
        f" {quote('lease_token')} = %s"
        f" WHERE {quote('id')} IN ({', '.join(['%s'] * len(keys))})"
        f" AND {quote('status')} = %s AND {quote('next_attempt_at')} <= %s"
        f" RETURNING {quote('id')}, {quote('attempts')}"
    )
    params = [
        DeliveryStatus.DELIVERING.value,
        fields["lease_expires_at"].get_db_prep_value(lease.expires_at, connection),
        fields["lease_token"].get_db_prep_value(lease.token, connection),
        *keys,
        DeliveryStatus.PENDING.value,
        fields["next_attempt_at"].get_db_prep_value(now, connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    id_field = fields["id"]
    return Lease(lease.token, lease.expires_at, {id_field.to_python(pk): int(attempts) for pk, attempts in rows})


def deliveries_release(delivery_ids: Sequence[uuid.UUID], *, token: uuid.UUID) -> int:
    """Give back leased deliveries this batch did not attempt (its lease would have run out before their turn):
    pending, due now, the attempt not counted, for the relay to publish again."""
    if not delivery_ids:
        return 0
    return EventDelivery.objects.filter(
        pk__in=list(delivery_ids), status=DeliveryStatus.DELIVERING, lease_token=token
    ).update(
        status=DeliveryStatus.PENDING,
        attempts=F("attempts") - 1,
        lease_expires_at=None,
        lease_token=None,
        next_attempt_at=timezone.now(),
        published_at=None,
    )


def deliveries_postpone(delivery_ids: Sequence[uuid.UUID], *, seconds: float) -> int:
    """Back to wait ``seconds`` for a free slot of their endpoint, to be published again by the relay (no attempt
    counted)."""
    now = timezone.now()
    return EventDelivery.objects.filter(
        pk__in=list(delivery_ids), status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + timedelta(seconds=seconds), published_at=None)
