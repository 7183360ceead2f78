"""Checkpoint files under GATEWAY_AUDIT_CHECKPOINT_DIR: ``<chain>/<number, 10 digits>.json``, each created once
(``O_EXCL``) and never rewritten."""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.conf import settings

FILE_NAME = re.compile(r"^(\d{10})\.json$")
CHAIN_NAME = re.compile(r"^(operator|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


class CheckpointFileExistsError(Exception):
    """A checkpoint file of that name exists already: files are never overwritten."""


def checkpoint_dir() -> Path:
    return Path(settings.GATEWAY_AUDIT_CHECKPOINT_DIR)


def checkpoint_path(*, chain: str, number: int, directory: Path | None = None) -> Path:
    if not CHAIN_NAME.match(chain):
        raise ValueError(f"not an audit chain name: {chain!r}")
    return (directory or checkpoint_dir()) / chain / f"{number:010d}.json"


def checkpoint_file_write(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` and flush it to the disk; an existing file stays as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        raise CheckpointFileExistsError(f"{path} exists; checkpoint files are never overwritten") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
