from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audit.support import tamper


@pytest.fixture
def tenant_a_id() -> uuid.UUID:
    return uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")


@pytest.fixture
def tenant_b_id() -> uuid.UUID:
    return uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")


@pytest.fixture
def audit_events_removed_after() -> Iterator[None]:
    """For transactional tests on PostgreSQL: the runner's closing TRUNCATE is refused while events remain."""
    yield
    tamper("DELETE FROM audit_auditevent", [])


@pytest.fixture(autouse=True)
def checkpoint_dir(tmp_path: Path, settings) -> Path:
    """Every test exports its checkpoints to a folder of its own (file names repeat from test to test)."""
    folder = tmp_path / "checkpoints"
    settings.GATEWAY_AUDIT_CHECKPOINT_DIR = folder
    return folder
