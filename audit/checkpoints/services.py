"""Writing checkpoints: verify the stretch of the chain since the last checkpoint at or below ``seq``, then sign
the event at ``seq``, export the file and record the row, one chain at a time (the chain head's row lock)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.chain import HASHED_FIELDS
from audit.checkpoints.documents import Checkpoint, CheckpointInvalidError, document_parse, document_render
from audit.checkpoints.files import CheckpointFileExistsError, checkpoint_file_write, checkpoint_path
from audit.checkpoints.models import AuditCheckpoint
from audit.checkpoints.selectors import checkpoint_file_check, checkpoint_public_keys
from audit.checkpoints.signer import checkpoint_signing
from audit.models import AuditChainHead, AuditEvent
from audit.verify import CHAIN_START, ChainAnchor, ChainHead, ChainReport, chain_verify

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000


class CheckpointRefusedError(Exception):
    """The chain does not verify up to the seq asked for (or has no event there): nothing was signed."""

    def __init__(self, report: ChainReport) -> None:
        self.report = report
        broken = report.broken_at
        where = f"seq {broken.seq}: {broken.reason}" if broken else "no such event"
        super().__init__(f"chain {report.chain} does not verify ({where}); no checkpoint written")


def checkpoint_at(*, chain: str, seq: int) -> AuditCheckpoint:
    """The chain's checkpoint at ``seq``: the one recorded, if its file is there and signed, or a new one."""
    existing = AuditCheckpoint.objects.filter(chain=chain, seq=seq).order_by("-number").first()
    if existing is not None and isinstance(checkpoint_file_check(existing), ChainAnchor):
        return existing
    return checkpoint_write(chain=chain, seq=seq)


def checkpoint_write(*, chain: str, seq: int) -> AuditCheckpoint:
    """Sign and export a checkpoint at event ``seq``, once the events since the previous checkpoint at or below it
    (or since the chain's start) verify; ``CheckpointRefusedError`` otherwise."""
    start = AuditCheckpoint.objects.filter(chain=chain, seq__lte=seq).order_by("-seq", "-number").first()
    anchor = ChainAnchor(start.seq, start.event_hash) if start is not None else CHAIN_START
    event = AuditEvent.objects.filter(chain=chain, seq=seq).values("hash", "occurred_at").first()
    if event is None:
        raise CheckpointRefusedError(ChainReport(chain=chain, events=0))
    report = chain_verify(
        chain=chain, events=_events(chain, anchor.seq, seq), head=ChainHead(seq, event["hash"]), anchor=anchor
    )
    if not report.is_intact:
        raise CheckpointRefusedError(report)
    return _record(chain=chain, seq=seq, event=event, count=report.events)


def checkpoints_write_advanced() -> dict[str, int]:
    """A checkpoint at the head of every chain that advanced since its last one; a chain that does not verify
    is logged and skipped (the hourly verification records it)."""
    written = refused = 0
    for head in AuditChainHead.objects.order_by("chain"):
        latest = AuditCheckpoint.objects.filter(chain=head.chain).order_by("-number").first()
        if head.last_seq == 0 or (latest is not None and latest.seq >= head.last_seq):
            continue
        refusal = _refusal(head.chain, head.last_seq)
        if refusal is not None:
            logger.error("audit checkpoint refused", extra={"chain": head.chain, "reason": refusal})
        written, refused = written + (refusal is None), refused + (refusal is not None)
    return {"written": written, "refused": refused}


def _refusal(chain: str, seq: int) -> str | None:
    """Write the checkpoint; why it was refused, or None once written."""
    try:
        checkpoint_write(chain=chain, seq=seq)
    except CheckpointRefusedError as error:
        return str(error)
    return None


def _events(chain: str, after_seq: int, up_to_seq: int) -> Any:
    rows = AuditEvent.objects.filter(chain=chain, seq__gt=after_seq, seq__lte=up_to_seq).order_by("seq")
    return rows.values(*HASHED_FIELDS, "prev_hash", "hash").iterator(chunk_size=CHUNK_SIZE)


def _record(*, chain: str, seq: int, event: Mapping[str, Any], count: int) -> AuditCheckpoint:
    signer, now = checkpoint_signing().signer(), timezone.now()
    with transaction.atomic():
        # Appends wait on this lock only while the row and the file are written (verification ran before).
        AuditChainHead.objects.select_for_update().filter(chain=chain).first()
        previous = _strays_adopt(chain, AuditCheckpoint.objects.filter(chain=chain).order_by("-number").first())
        checkpoint = Checkpoint(
            chain=chain,
            number=previous.number + 1 if previous is not None else 1,
            seq=seq,
            event_hash=event["hash"],
            event_occurred_at=event["occurred_at"].isoformat(),
            count=count,
            created_at=now.isoformat(),
            previous_digest=previous.digest if previous is not None else "",
            key_id=signer.key_id,
        )
        row = AuditCheckpoint.objects.create(
            chain=chain,
            number=checkpoint.number,
            seq=seq,
            event_hash=checkpoint.event_hash,
            event_occurred_at=event["occurred_at"],
            count=count,
            created_at=now,
            previous_digest=checkpoint.previous_digest,
            digest=checkpoint.digest,
            key_id=signer.key_id,
        )
        data = document_render(checkpoint, signer.sign(checkpoint.payload()))
        checkpoint_file_write(checkpoint_path(chain=chain, number=checkpoint.number), data)
    return row


def _strays_adopt(chain: str, previous: AuditCheckpoint | None) -> AuditCheckpoint | None:
    """Record the files a transaction wrote and then failed to commit (their rows are gone, the write-once files
    stay): each must be ours, follow on from the checkpoint before it and name an event the chain holds.
    Anything else in the way raises ``CheckpointFileExistsError``. The last checkpoint recorded, after them."""
    while True:
        number = previous.number + 1 if previous is not None else 1
        path = checkpoint_path(chain=chain, number=number)
        if not path.exists():
            return previous
        stray = _stray_read(path, previous_digest=previous.digest if previous is not None else "")
        if (stray.chain, stray.number) != (chain, number) or not _event_holds(stray):
            raise CheckpointFileExistsError(f"{path} exists and is not a checkpoint this chain can adopt")
        previous = AuditCheckpoint.objects.create(
            chain=chain,
            number=number,
            seq=stray.seq,
            event_hash=stray.event_hash,
            event_occurred_at=datetime.fromisoformat(stray.event_occurred_at),
            count=stray.count,
            created_at=datetime.fromisoformat(stray.created_at),
            previous_digest=stray.previous_digest,
            digest=stray.digest,
            key_id=stray.key_id,
        )
        logger.warning("audit checkpoint file adopted", extra={"chain": chain, "number": number})


def _stray_read(path: Path, *, previous_digest: str) -> Checkpoint:
    try:
        stray = document_parse(path.read_bytes(), public_keys=checkpoint_public_keys())
    except CheckpointInvalidError as error:
        raise CheckpointFileExistsError(f"{path} exists and is not a valid checkpoint: {error}") from None
    if stray.previous_digest != previous_digest:
        raise CheckpointFileExistsError(f"{path} exists and does not follow the chain's last checkpoint")
    return stray


def _event_holds(checkpoint: Checkpoint) -> bool:
    return AuditEvent.objects.filter(chain=checkpoint.chain, seq=checkpoint.seq, hash=checkpoint.event_hash).exists()
