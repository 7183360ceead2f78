"""Valid audit chains built in memory (no database), hashed exactly as ``audit_record`` hashes them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.chain import event_hash
from audit.models import OPERATOR_CHAIN, AuditAction, AuditChainHead, AuditEvent
from audit.verify import ChainHead

EventFields = dict[str, Any]

START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def chain_build(count: int, *, chain: str = OPERATOR_CHAIN, tenant_id: uuid.UUID | None = None) -> list[EventFields]:
    rows: list[EventFields] = []
    for index in range(count):
        content = {
            "action": list(AuditAction)[index % len(AuditAction)].value,
            "actor_label": f"user-{index}",
            "target_type": "user",
            "target_id": str(index),
            "details": {"count": index, "is_step_up": index % 2 == 0},
        }
        rows.append(chain_append(rows, chain=chain, tenant_id=tenant_id, **content))
    return rows


def chain_append(rows: list[EventFields], *, chain: str, tenant_id: uuid.UUID | None, **content: Any) -> EventFields:
    """The next valid event after ``rows``; ``content`` sets action, labels and details."""
    seq = len(rows) + 1
    fields: EventFields = {
        "id": uuid.uuid4(),
        "chain": chain,
        "seq": seq,
        "tenant_id": tenant_id,
        "occurred_at": START + timedelta(seconds=seq, microseconds=seq),
        "action": AuditAction.LOGIN_SUCCEEDED.value,
        "actor_id": None,
        "actor_label": "",
        "target_type": "",
        "target_id": "",
        "ip": "",
        "details": {},
        "prev_hash": rows[-1]["hash"] if rows else "",
        **content,
    }
    fields["hash"] = event_hash(fields["prev_hash"], fields)
    return fields


def head_of(rows: list[EventFields]) -> ChainHead:
    return ChainHead(last_seq=len(rows), last_hash=rows[-1]["hash"] if rows else "")


def chain_store(rows: list[EventFields], *, with_head: bool = True) -> None:
    """Insert ``rows`` (and their head) as they are, the way a restore or an attacker would."""
    AuditEvent.objects.bulk_create([AuditEvent(**row) for row in rows], batch_size=2000)
    if with_head:
        head = head_of(rows)
        AuditChainHead.objects.create(chain=rows[0]["chain"], last_seq=head.last_seq, last_hash=head.last_hash)
