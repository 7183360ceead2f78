"""The subject export's peak memory: one contact with many messages, exported in a process of its own, which reports
its own VmHWM (bench/memory.py's last phase)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from _dispatch.messages import Recipient, queued_message
from _lib.environment import ROOT

if TYPE_CHECKING:
    from messaging.models import Channel

SEED_BATCH = 1000  # rows per INSERT: PostgreSQL takes at most 65,535 parameters in one statement
CHILD = Path(__file__).resolve().parent / "export_child.py"
EXPORT_TIMEOUT = 1800


@dataclass(frozen=True)
class ExportOutcome:
    seed_seconds: float
    outcome: str
    seconds: float
    size: int  # the zip's bytes
    ready_hwm_kb: int  # the child's VmHWM once Django was set up, before the build
    peak_hwm_kb: int  # its VmHWM after the build: the export's peak

    @property
    def peak_mb(self) -> float:
        return self.peak_hwm_kb / 1024


def contact_seed(channel: Channel, count: int) -> tuple[uuid.UUID, float]:
    """One contact with ``count`` text messages (sealed through the ORM, written in bulk) and a status event each."""
    from django.db import transaction
    from django.utils import timezone

    from messaging.models import Contact, Conversation, Message, MessageStatus, StatusEvent

    started = time.perf_counter()
    now = timezone.now()
    contact = Contact.objects.create(tenant_id=channel.tenant_id, platform=channel.platform, external_id="16660000001")
    conversation = Conversation.objects.create(tenant_id=channel.tenant_id, channel=channel, contact=contact)
    for start in range(0, count, SEED_BATCH):
        rows = [
            queued_message(Recipient(channel, contact, conversation, number), now)
            for number in range(start, min(count, start + SEED_BATCH))
        ]
        for row in rows:
            row.status = MessageStatus.SENT
        with transaction.atomic():
            messages = Message.objects.bulk_create(rows)
            StatusEvent.objects.bulk_create(
                StatusEvent(message=message, status=MessageStatus.SENT, provider_timestamp=now) for message in messages
            )
    return contact.pk, time.perf_counter() - started


def export_measure(env: dict[str, str], contact_id: uuid.UUID, seed_seconds: float) -> ExportOutcome:
    """Run the export of ``contact_id`` in a child process, which prints its outcome and its /proc figures."""
    completed = subprocess.run(  # noqa: S603
        [sys.executable, str(CHILD), str(contact_id)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=EXPORT_TIMEOUT,
        check=False,
    )
    if completed.returncode:
        raise RuntimeError(f"the export process exited with {completed.returncode}:\n{completed.stderr[-3000:]}")
    printed = json.loads(completed.stdout.strip().splitlines()[-1])
    return ExportOutcome(
        seed_seconds=seed_seconds,
        outcome=str(printed["outcome"]),
        seconds=float(printed["seconds"]),
        size=int(printed["size"]),
        ready_hwm_kb=int(printed["ready_hwm_kb"]),
        peak_hwm_kb=int(printed["peak_hwm_kb"]),
    )
