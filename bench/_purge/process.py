"""The purge in its own process (``manage.py policies purge``), and what webhook sessions wait on meanwhile."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from _lib.environment import ROOT
from _lib.server import Environment

PURGE_APPLICATION = "bench-purge"
SAMPLE_SECONDS = 0.02  # in every paced window alike: the sampling's own cost must not weigh on one case only
PURGE_TIMEOUT_SECONDS = 900.0


@dataclass
class PurgeResult:
    seconds: float  # the pass's own duration, from its run record
    counts: dict[str, int]
    complete: bool

    @property
    def rows(self) -> int:
        return sum(self.counts.get(kind, 0) for kind in ("content", "metadata", "raw_delivery"))

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def purge_start(
    environment: Environment, arguments: argparse.Namespace, max_seconds: float | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "manage.py", "policies", "purge", "--json"]
    if max_seconds is not None:
        command += ["--max-seconds", str(max(1, round(max_seconds)))]
    if arguments.duty:
        command += ["--duty", str(arguments.duty)]
    if arguments.batch_size:
        command += ["--batch-size", str(arguments.batch_size)]
    if arguments.wal_rate is not None:
        command += ["--wal-rate", str(arguments.wal_rate)]
    return subprocess.Popen(  # noqa: S603 (our interpreter, manage.py and a number)
        command,
        cwd=ROOT,
        env={**environment.env(), "PGAPPNAME": PURGE_APPLICATION},  # libpq: names the purge's session
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@dataclass
class WaitSampler:
    """Samples, from its own session, what the other sessions of the bench database (gunicorn's) are waiting on
    while they run a statement: a lock on something the purge holds would show as ``Lock:…``."""

    database: str
    stop: threading.Event = field(default_factory=threading.Event)
    samples: int = 0
    waits: Counter[str] = field(default_factory=Counter)
    blocked_by_purge: int = 0
    autovacuum: int = 0  # samples in which an autovacuum worker was at work on the bench database

    def run(self) -> None:
        from django.db import connection

        try:
            with connection.cursor() as cursor:
                while not self.stop.wait(SAMPLE_SECONDS):
                    cursor.execute(WAITS_SQL, [PURGE_APPLICATION, self.database, PURGE_APPLICATION])
                    self.samples += 1
                    for wait, blocked in cursor.fetchall():
                        self.waits[wait] += 1
                        self.blocked_by_purge += int(bool(blocked))
                    cursor.execute(AUTOVACUUM_SQL, [self.database])
                    row = cursor.fetchone()
                    self.autovacuum += int(bool(row and row[0]))
        finally:
            connection.close()

    @property
    def autovacuum_share(self) -> float:
        return self.autovacuum / self.samples if self.samples else 0.0


WAITS_SQL = """
SELECT coalesce(activity.wait_event_type || ':' || activity.wait_event, 'cpu'),
       EXISTS (SELECT 1 FROM pg_stat_activity purge
               WHERE purge.application_name = %s AND purge.pid = ANY (pg_blocking_pids(activity.pid)))
FROM pg_stat_activity activity
WHERE activity.datname = %s AND activity.state = 'active' AND activity.pid <> pg_backend_pid()
  AND activity.application_name <> %s AND activity.backend_type = 'client backend'
"""


AUTOVACUUM_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' AND datname = %s)
"""


def purge_started(since: datetime) -> bool:
    from policies.models import PurgeRun

    return PurgeRun.objects.filter(started_at__gte=since, dry_run=False).exists()


def purge_finish(process: subprocess.Popen[bytes]) -> PurgeResult:
    from policies.models import PurgeRun

    out, err = process.communicate(timeout=PURGE_TIMEOUT_SECONDS)
    if process.returncode != 0:
        raise RuntimeError(f"the purge failed ({process.returncode}):\n{err.decode()[-2000:]}")
    document = json.loads(out)
    run = PurgeRun.objects.get(pk=document["run_id"])
    seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0.0
    return PurgeResult(seconds, document["totals"], document["complete"])
