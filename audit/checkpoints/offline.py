"""Verifying a folder of checkpoint files with the public keys alone (no database): every file's form and
signature, and each chain's checkpoints as a chain of their own (numbers 1, 2, 3… with no gap, each naming its
predecessor's digest, one hash per seq)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audit.checkpoints.documents import Checkpoint, CheckpointInvalidError, document_parse
from audit.checkpoints.files import CHAIN_NAME, FILE_NAME


@dataclass(frozen=True, slots=True)
class CheckpointsReport:
    chain: str
    checkpoints: int  # files accepted, up to the first problem
    last_seq: int  # the highest seq they vouch for
    problem: str | None = None  # the file and what is wrong with it

    @property
    def is_intact(self) -> bool:
        return self.problem is None


def checkpoints_verify_dir(*, directory: Path, public_keys: Sequence[str]) -> list[CheckpointsReport]:
    """One report per chain folder of ``directory``; anything else in it is a problem of its own."""
    reports = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir() or not CHAIN_NAME.match(entry.name):
            reports.append(CheckpointsReport(entry.name, 0, 0, f"{entry.name}: not a chain folder"))
            continue
        reports.append(_chain_verify(entry, public_keys=public_keys))
    return reports


def _chain_verify(folder: Path, *, public_keys: Sequence[str]) -> CheckpointsReport:
    chain, accepted, last_seq, previous_digest = folder.name, 0, 0, ""
    hashes: dict[int, str] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        problem = _name_problem(path, expected=accepted + 1)
        if problem is None:
            try:
                checkpoint = document_parse(path.read_bytes(), public_keys=public_keys)
            except CheckpointInvalidError as error:
                problem = f"{chain}/{path.name}: {error}"
            else:
                problem = _link_problem(checkpoint, chain, previous_digest, hashes, path.name)
        if problem is not None:
            return CheckpointsReport(chain, accepted, last_seq, problem)
        accepted, last_seq, previous_digest = accepted + 1, max(last_seq, checkpoint.seq), checkpoint.digest
        hashes[checkpoint.seq] = checkpoint.event_hash
    return CheckpointsReport(chain, accepted, last_seq)


def _name_problem(path: Path, *, expected: int) -> str | None:
    match = FILE_NAME.match(path.name)
    if match is None:
        return f"{path.parent.name}/{path.name}: not a checkpoint file name"
    if int(match.group(1)) != expected:
        return f"{path.parent.name}/{path.name}: checkpoint {expected} is missing"
    return None


def _link_problem(
    checkpoint: Checkpoint, chain: str, previous_digest: str, hashes: dict[int, str], name: str
) -> str | None:
    where = f"{chain}/{name}"
    if checkpoint.chain != chain or f"{checkpoint.number:010d}.json" != name:
        return f"{where}: names chain {checkpoint.chain} checkpoint {checkpoint.number}"
    if checkpoint.previous_digest != previous_digest:
        return f"{where}: does not follow the checkpoint before it (previous digest)"
    if hashes.get(checkpoint.seq, checkpoint.event_hash) != checkpoint.event_hash:
        return f"{where}: another hash for seq {checkpoint.seq} than an earlier checkpoint"
    return None
