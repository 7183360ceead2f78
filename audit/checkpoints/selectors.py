"""Where a pruned chain's verification starts: the latest checkpoint file at or below the seq before its first event."""

from __future__ import annotations

from django.conf import settings

from audit.checkpoints.documents import CheckpointInvalidError, document_parse
from audit.checkpoints.files import checkpoint_path
from audit.checkpoints.models import AuditCheckpoint
from audit.checkpoints.signer import checkpoint_signing
from audit.verify import CHAIN_START, BreakReason, ChainAnchor, ChainBreak


def checkpoint_public_key() -> str:
    """The public key of the configured signing key, as verifiers outside are given it."""
    return checkpoint_signing().signer().public_key


def checkpoint_public_keys() -> list[str]:
    """The keys checkpoint files are checked with: the signing key's, then those of earlier signing keys."""
    return [checkpoint_public_key(), *settings.GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEYS]


def checkpoint_anchor(*, chain: str, seq: int) -> ChainAnchor | ChainBreak:
    """Where a chain whose events up to ``seq`` are gone starts: the signed hash of the latest checkpoint at or
    below ``seq``, read from its file and checked with the public keys (below ``seq``, the verifier then names the
    events missing after it); the chain's start when it has none. A break when that checkpoint's file is gone or
    is not the signer's."""
    row = AuditCheckpoint.objects.filter(chain=chain, seq__lte=seq).order_by("-seq", "-number").first()
    return CHAIN_START if row is None else checkpoint_file_check(row)


def checkpoint_file_check(row: AuditCheckpoint) -> ChainAnchor | ChainBreak:
    """What the file of ``row`` signs (its seq and hash), or why it does not count."""
    try:
        data = checkpoint_path(chain=row.chain, number=row.number).read_bytes()
    except FileNotFoundError:
        return ChainBreak(row.seq, None, BreakReason.CHECKPOINT_MISSING)
    try:
        checkpoint = document_parse(data, public_keys=checkpoint_public_keys())
    except CheckpointInvalidError:
        return ChainBreak(row.seq, None, BreakReason.CHECKPOINT_INVALID)
    if (checkpoint.chain, checkpoint.number, checkpoint.seq) != (row.chain, row.number, row.seq):
        return ChainBreak(row.seq, None, BreakReason.CHECKPOINT_INVALID)
    return ChainAnchor(checkpoint.seq, checkpoint.event_hash)
