"""Pruning a chain: its events older than a cut-off go, oldest first, in batches, each batch behind a signed
checkpoint at its last seq, so the chain verifies from that checkpoint at every moment (even a pass killed
halfway). Which chains and which cut-offs is the caller's business (policies: ``audit_days``, legal holds)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from django.conf import settings
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from audit.checkpoints.services import checkpoint_at
from audit.models import OPERATOR_CHAIN, AuditAction, AuditEvent
from audit.services import audit_record

PRUNE_BATCH_SIZE = 5000
PRUNER_LABEL = "audit pruning"


def audit_prune_events(*, chain: str, up_to_seq: int) -> int:
    """The one DELETE of audit events: the chain's events up to ``up_to_seq``, through the connection named by
    GATEWAY_AUDIT_PRUNE_DB_ALIAS. On PostgreSQL the append-only trigger lets a row go only inside a transaction
    that set ``gateway.audit_prune`` and only with a checkpoint recorded at or above its seq."""
    alias = settings.GATEWAY_AUDIT_PRUNE_DB_ALIAS
    connection = connections[alias]
    with transaction.atomic(using=alias):
        _prune_flag_set(connection, "on")
        deleted, _ = AuditEvent.objects.using(alias).filter(chain=chain, seq__lte=up_to_seq).delete()
        _prune_flag_set(connection, "off")  # within a caller's longer transaction, only this DELETE may pass
    return deleted


def _prune_flag_set(connection: BaseDatabaseWrapper, value: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('gateway.audit_prune', %s, true)", [value])


def audit_chain_prune(
    *, chain: str, before: datetime, batch_size: int = PRUNE_BATCH_SIZE, deadline: float | None = None
) -> int:
    """Delete the chain's events that occurred before ``before`` (the oldest stretch of them: a younger event
    ends it); one ``audit.pruned`` event on the chain records how many went. No batch starts after ``deadline``
    (``time.monotonic()``): the next pass goes on. ``CheckpointRefusedError`` when the chain does not verify up
    to a batch's end: nothing more goes then."""
    cut = _cut_seq(chain, before)
    first = _first_stored_seq(chain)
    if cut is None or first is None or cut < first:
        return 0
    removed, upper = 0, first - 1
    while upper < cut and (deadline is None or time.monotonic() < deadline):
        upper = min(upper + batch_size, cut)
        checkpoint = checkpoint_at(chain=chain, seq=upper)
        removed += audit_prune_events(chain=chain, up_to_seq=upper)
    if not removed:
        return 0
    audit_record(
        action=AuditAction.AUDIT_PRUNED,
        tenant_id=None if chain == OPERATOR_CHAIN else uuid.UUID(chain),
        actor_label=PRUNER_LABEL,
        target_type="audit_chain",
        target_id=chain,
        details={"events": removed, "through_seq": upper, "checkpoint": checkpoint.number},
    )
    return removed


def _cut_seq(chain: str, before: datetime) -> int | None:
    """The last seq of the chain's oldest stretch of events that occurred before ``before``."""
    chain_events = AuditEvent.objects.filter(chain=chain).order_by("seq")
    young = chain_events.filter(occurred_at__gte=before).values_list("seq", flat=True).first()
    if young is not None:
        return young - 1
    return chain_events.reverse().values_list("seq", flat=True).first()


def _first_stored_seq(chain: str) -> int | None:
    return AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True).first()
