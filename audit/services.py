from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from audit.chain import event_hash
from audit.models import OPERATOR_CHAIN, AuditChainHead, AuditEvent

DetailValue = str | int | bool | None


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
            chain=chain, seq=head.last_seq + 1, tenant_id=tenant_id, occurred_at=timezone.now(),
            action=action, actor_id=actor_id, actor_label=actor_label[:200], target_type=target_type,
            target_id=str(target_id), ip=ip, details=dict(details or {}), prev_hash=head.last_hash,
        )
        event.hash = event_hash(event.prev_hash, vars(event))
        event.save(force_insert=True)
        head.last_seq, head.last_hash = event.seq, event.hash
        head.save(update_fields=["last_seq", "last_hash"])
    return event
