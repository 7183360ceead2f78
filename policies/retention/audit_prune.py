"""Audit retention: each tenant's audit chain loses the events older than its policy's ``audit_days``, the operator
chain those older than GATEWAY_AUDIT_OPERATOR_DAYS, each behind a signed checkpoint (audit.checkpoints.prune).

Its own hourly beat entry, not a kind of the minute purge pass: events expire by the day, a checkpoint file may go
to slow remote storage, and the pass's batches are paced for the message tables' WAL. A tenant with any legal hold
in force keeps its whole chain: its events name contacts and conversations, like the event logs' rows.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings

from accounts.models import Tenant
from audit.checkpoints.prune import audit_chain_prune
from audit.checkpoints.services import CheckpointRefusedError
from audit.models import OPERATOR_CHAIN
from audit.services import chain_name
from policies.models import LegalHold
from policies.retention.selectors import active_holds, tenant_policies, tenant_policy_in_force

logger = logging.getLogger(__name__)


def audit_prune_targets(*, now: datetime) -> tuple[list[tuple[str, datetime]], int]:
    """(chain, events before this go) for the operator chain and every tenant without a hold; and how many held."""
    held = set(LegalHold.objects.filter(active_holds(now=now)).values_list("tenant_id", flat=True))
    tenant_ids = list(Tenant.objects.order_by("pk").values_list("pk", flat=True))
    policies = tenant_policies(tenant_ids=tenant_ids)
    targets = [(OPERATOR_CHAIN, now - timedelta(days=settings.GATEWAY_AUDIT_OPERATOR_DAYS))]
    for tenant_id in tenant_ids:
        if tenant_id not in held:
            days = tenant_policy_in_force(tenant_policy=policies.get(tenant_id)).values.audit_days
            targets.append((chain_name(tenant_id), now - timedelta(days=days)))
    return targets, len(held & set(tenant_ids))


def audit_retention_apply(*, now: datetime, max_seconds: float | None = None) -> dict[str, int]:
    """Prune every chain due; a chain that does not verify keeps its events (logged; verification reports it).
    After ``max_seconds`` no batch starts (``complete`` is then 0; the next pass goes on)."""
    targets, held = audit_prune_targets(now=now)
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    events = refused = 0
    for chain, before in targets:
        try:
            events += audit_chain_prune(chain=chain, before=before, deadline=deadline)
        except CheckpointRefusedError as error:
            refusal = str(error)
        else:
            continue
        logger.error("audit pruning refused", extra={"chain": chain, "reason": refusal})
        refused += 1
    complete = deadline is None or time.monotonic() < deadline
    return {"chains": len(targets), "events": events, "held": held, "refused": refused, "complete": int(complete)}
