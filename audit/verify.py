"""The chain verifier: a pure function over event rows in ``seq`` order and the chain head.

It recomputes every HMAC and stops at the first break, naming the ``seq`` (and the row, when there is
one) where the stored chain stops being the chain ``audit_record`` wrote. It reads no database.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from audit.chain import event_hash
from audit.models import AuditEvent

PROGRESS_EVERY = 10_000

EventRow = Mapping[str, Any] | AuditEvent
Progress = Callable[[int], None]


class BreakReason(StrEnum):
    HASH_MISMATCH = "hash_mismatch"  # the row is not what was hashed: a field changed, or a forged row
    PREV_HASH_MISMATCH = "prev_hash_mismatch"  # the row does not link to the row before it
    MISSING_EVENT = "missing_event"  # a seq gap: ``seq`` names the first missing one
    UNEXPECTED_EVENT = "unexpected_event"  # a duplicate, out-of-order row, or a row beyond the head
    HEAD_MISMATCH = "head_mismatch"  # the head names more events (a truncated tail) or another last hash
    CHECKPOINT_MISSING = "checkpoint_missing"  # events up to ``seq`` went; the checkpoint file at ``seq`` is gone
    CHECKPOINT_INVALID = "checkpoint_invalid"  # the checkpoint file at ``seq`` is changed, or not the signer's


class ChainHeadLike(Protocol):
    @property
    def last_seq(self) -> int: ...

    @property
    def last_hash(self) -> str: ...


@dataclass(frozen=True)
class ChainHead:
    last_seq: int
    last_hash: str


@dataclass(frozen=True)
class ChainAnchor:
    """Where verification starts: event ``seq`` had ``hash`` (a signed checkpoint says so); (0, "") is the start."""

    seq: int
    hash: str


CHAIN_START = ChainAnchor(0, "")


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    event_id: uuid.UUID | None  # None when the break is an absent row
    reason: BreakReason


@dataclass(frozen=True)
class ChainReport:
    chain: str
    events: int  # rows read, up to and including the first break
    broken_at: ChainBreak | None = None

    @property
    def is_intact(self) -> bool:
        return self.broken_at is None


def chain_verify(
    *,
    chain: str,
    events: Iterable[EventRow],
    head: ChainHeadLike | None,
    progress: Progress | None = None,
    anchor: ChainAnchor = CHAIN_START,
) -> ChainReport:
    """Check ``events`` (in the order given, which must be ``seq`` order) against ``head``.

    A missing head stands for an empty chain, so any row is then unexpected. ``progress`` is called
    with the number of rows read every ``PROGRESS_EVERY`` rows. A pruned chain starts after ``anchor``: its
    first event must be the one after the anchor's and name the anchor's hash as its ``prev_hash``.
    """
    head_seq, head_hash = (head.last_seq, head.last_hash) if head is not None else (0, "")
    count, seq, prev_hash, last_id = 0, anchor.seq, anchor.hash, None
    for row in events:
        fields = row if isinstance(row, Mapping) else vars(row)
        count += 1
        broken = _event_break(fields, expected_seq=seq + 1, prev_hash=prev_hash, head_seq=head_seq)
        if broken is not None:
            return ChainReport(chain=chain, events=count, broken_at=broken)
        seq, prev_hash, last_id = fields["seq"], fields["hash"], fields["id"]
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    if head_seq > seq:
        return ChainReport(chain=chain, events=count, broken_at=ChainBreak(seq + 1, None, BreakReason.HEAD_MISMATCH))
    if head_hash != prev_hash:
        return ChainReport(chain=chain, events=count, broken_at=ChainBreak(seq, last_id, BreakReason.HEAD_MISMATCH))
    return ChainReport(chain=chain, events=count)


def _event_break(fields: Mapping[str, Any], *, expected_seq: int, prev_hash: str, head_seq: int) -> ChainBreak | None:
    seq, event_id = fields["seq"], fields["id"]
    if seq < expected_seq or expected_seq > head_seq:
        return ChainBreak(seq, event_id, BreakReason.UNEXPECTED_EVENT)
    if seq > expected_seq:
        return ChainBreak(expected_seq, None, BreakReason.MISSING_EVENT)
    if fields["prev_hash"] != prev_hash:
        return ChainBreak(seq, event_id, BreakReason.PREV_HASH_MISMATCH)
    if not hmac.compare_digest(event_hash(prev_hash, fields).encode(), str(fields["hash"]).encode()):
        return ChainBreak(seq, event_id, BreakReason.HASH_MISMATCH)
    return None
