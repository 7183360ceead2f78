"""A checkpoint file: canonical JSON ``{"checkpoint": {...}, "signature": "..."}`` and a newline.

The signature (Ed25519, base64url) is over the canonical JSON of the ``checkpoint`` object; its SHA-256 is the
checkpoint's digest, which the next checkpoint of the chain names as ``previous_digest``. A file must be exactly
the canonical rendering of what it holds, so a changed byte anywhere fails, whitespace included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from audit.checkpoints.signer import checkpoint_signing

FORMAT_VERSION = 1
_INT_FIELDS = ("version", "number", "seq", "count")
_STR_FIELDS = ("chain", "event_hash", "event_occurred_at", "created_at", "previous_digest", "key_id")


class CheckpointInvalidError(Exception):
    """A checkpoint file that is not what the signer wrote; the message says why (no file content)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    chain: str
    number: int
    seq: int
    event_hash: str
    event_occurred_at: str  # ISO 8601, as the chain hashes it
    count: int
    created_at: str
    previous_digest: str  # "" for a chain's first checkpoint
    key_id: str
    version: int = FORMAT_VERSION

    def payload(self) -> bytes:
        return canonical_json(asdict(self))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.payload()).hexdigest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def document_render(checkpoint: Checkpoint, signature: str) -> bytes:
    return canonical_json({"checkpoint": asdict(checkpoint), "signature": signature}) + b"\n"


def document_parse(data: bytes, *, public_keys: Sequence[str]) -> Checkpoint:
    """The checkpoint ``data`` holds, once its form and its signature by the one of ``public_keys`` whose id it
    names check out."""
    try:
        document = json.loads(data)
        checkpoint, signature = _fields(document["checkpoint"]), document["signature"]
    except (ValueError, KeyError, TypeError):
        raise CheckpointInvalidError("not a checkpoint document") from None
    if not isinstance(signature, str) or document_render(checkpoint, signature) != data:
        raise CheckpointInvalidError("not in canonical form (the file was changed)")
    signing = checkpoint_signing()
    public_key = next((key for key in public_keys if signing.key_id_of(key) == checkpoint.key_id), None)
    if public_key is None:
        raise CheckpointInvalidError(f"signed by key {checkpoint.key_id}, not by a key given")
    if not signing.signature_valid(public_key, checkpoint.payload(), signature):
        raise CheckpointInvalidError("bad signature")
    return checkpoint


def _fields(raw: Any) -> Checkpoint:
    if not isinstance(raw, dict) or set(raw) != {*_INT_FIELDS, *_STR_FIELDS}:
        raise TypeError("unexpected fields")
    if any(type(raw[name]) is not int for name in _INT_FIELDS) or any(type(raw[n]) is not str for n in _STR_FIELDS):
        raise TypeError("unexpected field types")
    if raw["version"] != FORMAT_VERSION:
        raise TypeError("unknown version")
    return Checkpoint(**raw)
