from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping

from django.db import transaction
from django.utils import timezone

from audit.chain import event_hash
from audit.models import OPERATOR_CHAIN, AuditAction, AuditChainHead, AuditEvent
from audit.selectors import audit_chains_verify_all
from audit.verify import ChainBreak

logger = logging.getLogger(__name__)

DetailValue = str | int | bool | None
VERIFIER_LABEL = "audit verifier"

AuditObserver = Callable[[AuditEvent], None]
# Detectors that watch audited actions, by action: a dict lookup per record, nothing more for other actions.
_observers: dict[str, AuditObserver] = {}


def audit_observer_register(*, actions: Iterable[str], observer: AuditObserver) -> None:
    """Have ``observer`` see every recorded event of ``actions`` (registered once per process, at start-up).
    It runs after the event is written, in the caller's transaction."""
    for action in actions:
        _observers[action] = observer


def chain_name(tenant_id: uuid.UUID | None) -> str:
    return str(tenant_id) if tenant_id else OPERATOR_CHAIN


def audit_record(
    *,
    action: str,
    tenant_id: uuid.UUID | None,
    actor_id: uuid.UUID | None = None,
    actor_label: str = "",
    target_type: str = "",
    target_id: str = "",
    ip: str = "",
    details: Mapping[str, DetailValue] | None = None,
) -> AuditEvent:
    """Append one event to the tenant's chain (the operator chain when ``tenant_id`` is None).

    Appends to one chain are serialised by locking its head row, so ``seq`` has no gaps or forks.
    ``details`` holds ids, labels and counts, never message content or secrets.
    """
    chain = chain_name(tenant_id)
    with transaction.atomic():
        AuditChainHead.objects.bulk_create([AuditChainHead(chain=chain)], ignore_conflicts=True)
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
        event = AuditEvent(
            chain=chain,
            seq=head.last_seq + 1,
            tenant_id=tenant_id,
            occurred_at=timezone.now(),
            action=action,
            actor_id=actor_id,
            actor_label=actor_label[:200],
            target_type=target_type,
            target_id=str(target_id),
            ip=ip,
            details=dict(details or {}),
            prev_hash=head.last_hash,
        )
        event.hash = event_hash(event.prev_hash, vars(event))
        event.save(force_insert=True)
        head.last_seq, head.last_hash = event.seq, event.hash
        head.save(update_fields=["last_seq", "last_hash"])
    observer = _observers.get(action)
    if observer is not None:
        observer(event)
    return event


def audit_integrity_check() -> dict[str, int]:
    """Verify every chain; log each broken one and record one integrity failure for it on the operator chain."""
    reports = audit_chains_verify_all()
    breaks = [(report.chain, report.broken_at) for report in reports if report.broken_at is not None]
    for chain, broken_at in breaks:
        _integrity_failure_record(chain=chain, broken_at=broken_at)
    return {"chains": len(reports), "events": sum(report.events for report in reports), "broken": len(breaks)}


def _integrity_failure_record(*, chain: str, broken_at: ChainBreak) -> None:
    event_id = str(broken_at.event_id) if broken_at.event_id else None
    reason = str(broken_at.reason)
    extra = {"chain": chain, "seq": broken_at.seq, "event_id": event_id, "reason": reason}
    logger.error("audit chain broken", extra=extra)
    audit_record(
        action=AuditAction.INTEGRITY_FAILURE,
        tenant_id=None,
        actor_label=VERIFIER_LABEL,
        target_type="audit_chain",
        target_id=chain,
        details={"chain": chain, "seq": broken_at.seq, "reason": reason},
    )
