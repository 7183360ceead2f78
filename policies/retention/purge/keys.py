"""The backstop: once a day bucket has passed, its content and raw keys are scheduled for destruction.

Whatever the row purge missed (a pass that stopped early, a backup taken before it ran) becomes unreadable
when the key goes; ``maintenance.keys_destroy_due`` destroys a scheduled key once every process's key cache
has expired, with a receipt. Registered gates (legal holds with re-keying pending, other jobs) veto a key;
it is asked again on the next pass. Only scopes that are a day (``YYYY-MM-DD``) are considered: hold keys and
every other scope are left alone.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.db.models import QuerySet

from core.raw_ledgers import raw_ledgers
from encryption.errors import KeyOperationError
from encryption.models import OPERATOR, DataKey, KeyState, Purpose
from encryption.services import KeyedColumn, data_key_destroy_refusals, data_key_schedule_destroy
from policies.retention.purge.kinds import PurgeKind, Tally

DAY_PURPOSES = (Purpose.CONTENT, Purpose.RAW)
DAY_SCOPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def day_keys_past(*, now: datetime) -> QuerySet[DataKey]:
    """Live content and raw keys whose day bucket is before today (UTC): everything under them has expired."""
    today = now.astimezone(UTC).date().isoformat()
    return DataKey.objects.filter(
        purpose__in=DAY_PURPOSES,
        state__in=(KeyState.ACTIVE, KeyState.DECRYPT_ONLY),
        scope__regex=DAY_SCOPE,
        scope__lt=today,  # ISO dates order as text
    ).order_by("scope", "pk")


def day_key_refusals(*, key: DataKey) -> list[str]:
    """Why ``key`` may not be destroyed now: the registered gates, and raw deliveries still to be processed."""
    reasons = data_key_destroy_refusals(key=key)
    if key.purpose == Purpose.RAW and _unprocessed_deliveries_under(key):
        reasons.append("deliveries sealed under it are not processed yet")
    return reasons


def day_keys_schedule_destroy(*, now: datetime, dry_run: bool = False) -> Tally:
    """Schedule (or, in a dry run, only judge) every past day key; counts scheduled and vetoed keys per tenant."""
    tally = Tally()
    for key in day_keys_past(now=now):
        tenant_id = None if key.owner == OPERATOR else uuid.UUID(key.owner)
        tally[(tenant_id, _judge(key, dry_run=dry_run).value)] += 1
    return tally


def _judge(key: DataKey, *, dry_run: bool) -> PurgeKind:
    if day_key_refusals(key=key):
        return PurgeKind.KEY_VETOED
    if not dry_run:
        try:
            data_key_schedule_destroy(key=key)
        except KeyOperationError:  # a gate objected since we asked
            return PurgeKind.KEY_VETOED
    return PurgeKind.KEY


def _unprocessed_deliveries_under(key: DataKey) -> bool:
    for ledger in raw_ledgers():
        body = KeyedColumn(ledger.model, ledger.model._meta.get_field(ledger.body_field))  # type: ignore[arg-type]
        if body.rows_under([key.pk]).filter(ledger.pending).exists():
            return True
    return False
