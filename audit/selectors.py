"""Reads over the audit chains: list them and verify them against the database."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Subquery

from audit.chain import HASHED_FIELDS
from audit.checkpoints.selectors import checkpoint_anchor
from audit.models import AuditChainHead, AuditEvent
from audit.verify import (
    CHAIN_START,
    ChainBreak,
    ChainHead,
    ChainHeadLike,
    ChainReport,
    EventRow,
    Progress,
    chain_verify,
)

CHUNK_SIZE = 2000


def audit_chain_names() -> list[str]:
    """Every chain with a head row, plus any chain that has events but no head (itself a break)."""
    heads = AuditChainHead.objects.values_list("chain", flat=True)
    with_events = AuditEvent.objects.order_by().values_list("chain", flat=True).distinct()
    return sorted({*heads, *with_events})


def audit_chain_exists(*, chain: str) -> bool:
    return AuditChainHead.objects.filter(chain=chain).exists() or AuditEvent.objects.filter(chain=chain).exists()


def audit_chain_verify(*, chain: str, progress: Progress | None = None) -> ChainReport:
    """Stream the chain in ``seq`` order and check it against its head, stopping at the first break. A pruned
    chain is checked from the signed checkpoint at the seq before its first stored event."""
    rows = _rows_with_head(chain)
    first = next(rows, None)
    if first is None:
        # A head commits together with its chain's first event, and callers list chains before reading
        # them, so a head that claims events here means they were removed (pruned, or not).
        stored_head = AuditChainHead.objects.filter(chain=chain).first()
        first_seq = stored_head.last_seq + 1 if stored_head is not None else 1
        return _verified(chain, (), stored_head, first_seq=first_seq)
    head = None if first["head_last_seq"] is None else ChainHead(first["head_last_seq"], first["head_last_hash"])
    return _verified(chain, itertools.chain([first], rows), head, first_seq=first["seq"], progress=progress)


def _verified(
    chain: str,
    events: Iterable[EventRow],
    head: ChainHeadLike | None,
    *,
    first_seq: int,
    progress: Progress | None = None,
) -> ChainReport:
    anchor = CHAIN_START
    if first_seq > 1:
        resolved = checkpoint_anchor(chain=chain, seq=first_seq - 1)
        if isinstance(resolved, ChainBreak):
            return ChainReport(chain=chain, events=0, broken_at=resolved)
        anchor = resolved
    return chain_verify(chain=chain, events=events, head=head, progress=progress, anchor=anchor)


def audit_chains_verify_all() -> list[ChainReport]:
    return [audit_chain_verify(chain=chain) for chain in audit_chain_names()]


def _rows_with_head(chain: str) -> Iterator[dict[str, Any]]:
    # The head is read by the same statement as the rows, so both come from one snapshot: an append
    # that commits while a long chain streams is neither a row "beyond the head" nor a short tail.
    head = AuditChainHead.objects.filter(chain=chain)
    rows: Iterator[dict[str, Any]] = (
        AuditEvent.objects.filter(chain=chain)
        .order_by("seq")
        .annotate(head_last_seq=Subquery(head.values("last_seq")), head_last_hash=Subquery(head.values("last_hash")))
        .values(*HASHED_FIELDS, "prev_hash", "hash", "head_last_seq", "head_last_hash")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    return rows
