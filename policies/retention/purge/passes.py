"""A purge pass: every kind in short batches, then the key backstop; recorded per tenant and kind, audited.

The counts of a batch are written in the batch's own transaction, so the run record always matches what was
removed, even when a pass is killed halfway. A dry run counts the same selections and changes no data.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import OperationalError, transaction
from django.db.models import Count, F
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from core.metrics import metric_increment
from policies.models import PurgeCount, PurgeRun
from policies.retention.purge import kinds
from policies.retention.purge.keys import day_keys_schedule_destroy
from policies.retention.purge.kinds import BATCH_SIZE, STEPS, PurgeKind, Step, Tally
from policies.retention.purge.logs import log_names, log_steps, logs_due

logger = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (kind, rows of that kind so far in this pass)
DEFAULT_DUTY = 0.5  # the beat's pass and the command work half the time: ingest keeps the cores it needs
# Every webhook's commit waits for the WAL to reach the disk, and a purge writes WAL fast (about 1 KB per message
# blanked): past a few MB/s, acks slow down. The pass pauses after each batch so that the WAL the server wrote
# since the batch began stays within this rate (PostgreSQL only; 0 turns it off).
DEFAULT_WAL_MB_PER_SECOND = 2.0
MAX_PAUSE_SECONDS = 2.0  # however busy the WAL, a pass still moves (ingest's own WAL counts in the budget too)
EMPTY_RUNS_KEPT = timedelta(days=1)  # a pass that removed nothing is kept this long, then pruned
EMPTY_RUNS_PRUNED_PER_PASS = 1000
NOT_AUDITED_KINDS = frozenset({PurgeKind.KEY_VETOED.value})  # a vetoed key removed nothing


@dataclass
class Pacing:
    """The pass's time limit, duty cycle and WAL budget. After a batch that took t seconds, pause the longer of
    t * (1 - duty) / duty and what brings the server's WAL since the batch began down to ``wal_mb_per_second``."""

    duty: float
    deadline: float | None
    wal_mb_per_second: float = 0.0

    def has_time(self) -> bool:
        return self.deadline is None or time.monotonic() < self.deadline

    @contextmanager
    def batch(self) -> Iterator[None]:
        started, wal_start = time.monotonic(), kinds.wal_position() if self.wal_mb_per_second else None
        yield
        elapsed = time.monotonic() - started
        pause = elapsed * (1 - self.duty) / self.duty
        if wal_start is not None:
            written = kinds.wal_written_since(wal_start)
            pause = max(pause, min(written / (self.wal_mb_per_second * 1e6) - elapsed, MAX_PAUSE_SECONDS))
        if self.deadline is not None:
            pause = min(pause, max(0.0, self.deadline - time.monotonic()))
        if pause > 0:
            time.sleep(pause)


@dataclass(frozen=True)
class PurgeOutcome:
    run: PurgeRun
    tally: Tally
    complete: bool

    def totals(self) -> dict[str, int]:
        """Per kind, over all tenants (every kind and registered log listed, zeros included)."""
        totals = dict.fromkeys([*(kind.value for kind in PurgeKind), *log_names()], 0)
        for (_, kind), count in self.tally.items():
            totals[kind] = totals.get(kind, 0) + count
        return totals


def retention_purge(
    *,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    max_seconds: float | None = None,
    duty: float = 1.0,
    wal_mb_per_second: float = 0.0,
    progress: Progress | None = None,
    actor_label: str = "system",
) -> PurgeOutcome:
    """Remove what is due at ``now``, kind by kind, until nothing is due or ``max_seconds`` have passed (the
    run is then marked incomplete; the next pass goes on), then schedule the destruction of past day keys.
    ``duty`` (0 < duty <= 1) is the share of its time the pass works: after each batch it pauses so long that
    ingest, on the same cores, keeps the rest. ``wal_mb_per_second`` (0: no limit) bounds the WAL written while
    it works, so that ingest's commits, which wait for the WAL to reach the disk, do not queue behind it."""
    if not 0 < duty <= 1:
        raise ValueError(f"duty must be above 0 and at most 1, got {duty}")
    if wal_mb_per_second < 0:
        raise ValueError(f"wal_mb_per_second must be 0 (no limit) or more, got {wal_mb_per_second}")
    run = PurgeRun.objects.create(started_at=timezone.now())
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    pacing = Pacing(duty=duty, deadline=deadline, wal_mb_per_second=wal_mb_per_second)
    tally, complete = Tally(), True
    for kind, step in (*STEPS, *log_steps(now=now)):
        done, finished = _kind_purge(run, kind, step, now=now, batch_size=batch_size, pacing=pacing, progress=progress)
        tally.update(done)
        complete = complete and finished
        if not pacing.has_time():
            complete = False
            break
    keys = day_keys_schedule_destroy(now=now)
    _record(run, keys)
    tally.update(keys)
    _finish(run, complete=complete)
    _audit(run, tally, complete=complete, actor_label=actor_label)
    _empty_runs_prune()
    outcome = PurgeOutcome(run, tally, complete)
    for kind, count in outcome.totals().items():
        if count:
            metric_increment("gateway_purged", count, kind=kind)
    return outcome


def retention_purge_preview(*, now: datetime) -> PurgeOutcome:
    """What a pass at ``now`` would remove and which day keys it would schedule, per tenant and kind.
    Nothing changes but the run record (``dry_run``)."""
    tally = Tally()
    selections = (
        (PurgeKind.CONTENT, kinds.content_due(now=now)),
        (PurgeKind.MEDIA, kinds.media_going(now=now)),
        (PurgeKind.METADATA, kinds.metadata_due(now=now)),
        *((PurgeKind.RAW_DELIVERY, due) for due in kinds.raw_deliveries_due(now=now)),
        (PurgeKind.QUARANTINE, kinds.quarantine_due(now=now)),
        (PurgeKind.IDEMPOTENCY, kinds.idempotency_due(now=now)),
        (PurgeKind.PARKED_STATUS, kinds.parked_statuses_due(now=now)),
        (PurgeKind.PARKED_RECEIPT, kinds.parked_receipts_due(now=now)),
        (PurgeKind.MESSAGE_EDIT, kinds.message_edits_due(now=now)),
    )
    for kind, due in selections:
        for row in due.order_by().values("tenant_id").annotate(rows=Count("pk", distinct=True)):
            tally[(row["tenant_id"], kind.value)] += row["rows"]
    tally.update(logs_due(now=now))
    tally.update(day_keys_schedule_destroy(now=now, dry_run=True))
    with transaction.atomic():
        run = PurgeRun.objects.create(started_at=timezone.now(), dry_run=True)
        _record(run, tally)
        _finish(run, complete=True)
    return PurgeOutcome(run, tally, True)


def _kind_purge(
    run: PurgeRun,
    kind: str,
    step: Step,
    *,
    now: datetime,
    batch_size: int,
    pacing: Pacing,
    progress: Progress | None,
) -> tuple[Tally, bool]:
    """Batches of one kind until none is due; (what went, whether the kind finished)."""
    tally = Tally()
    while pacing.has_time():
        try:
            with pacing.batch():
                batch = _batch(run, step, now=now, batch_size=batch_size)
        except OperationalError as error:
            if not kinds.is_lock_wait(error):
                raise
            logger.warning("purge batch gave up on a lock; the next pass goes on", extra={"kind": kind})
            return tally, False
        if not batch:
            return tally, True
        tally.update(batch)
        if progress is not None:
            progress(kind, sum(tally.values()))
    return tally, False


def _batch(run: PurgeRun, step: Step, *, now: datetime, batch_size: int) -> Tally:
    with transaction.atomic():
        kinds.timeouts_set()
        tally = step(now, batch_size)
        _record(run, tally)
    return tally


def _record(run: PurgeRun, tally: Tally) -> None:
    for (tenant_id, kind), count in tally.items():
        if count <= 0:
            continue
        existing = PurgeCount.objects.filter(run=run, tenant_id=tenant_id, kind=kind)
        if not existing.update(count=F("count") + count):
            PurgeCount.objects.create(run=run, tenant_id=tenant_id, kind=kind, count=count)


def _finish(run: PurgeRun, *, complete: bool) -> None:
    run.finished_at, run.complete = timezone.now(), complete
    run.save(update_fields=["finished_at", "complete", "updated_at"])


def _audit(run: PurgeRun, tally: Tally, *, complete: bool, actor_label: str) -> None:
    """One event per tenant that lost something (or had a key scheduled): counts only."""
    by_tenant: dict[uuid.UUID | None, dict[str, int]] = {}
    for (tenant_id, kind), count in sorted(tally.items(), key=lambda item: (str(item[0][0]), item[0][1])):
        by_tenant.setdefault(tenant_id, {})[kind] = count
    for tenant_id, counts in by_tenant.items():
        if not any(count for kind, count in counts.items() if kind not in NOT_AUDITED_KINDS):
            continue
        audit_record(
            action=AuditAction.RETENTION_PURGED,
            tenant_id=tenant_id,
            actor_label=actor_label,
            target_type="purge_run",
            target_id=str(run.pk),
            details={**counts, "complete": complete},
        )


def _empty_runs_prune() -> None:
    """Passes every minute that found nothing would pile up: keep those for a day only."""
    old = PurgeRun.objects.filter(
        dry_run=False, complete=True, counts__isnull=True, finished_at__lt=timezone.now() - EMPTY_RUNS_KEPT
    )
    ids = list(old.values_list("pk", flat=True)[:EMPTY_RUNS_PRUNED_PER_PASS])
    if ids:
        PurgeRun.objects.filter(pk__in=ids).delete()
