"""WAL written over a phase: the cluster's (pg_current_wal_lsn, other databases' writes included) and, where
pg_walinspect can be created (superuser), this database's own: the records that touch its relations, and how many
of them carry a full-page image."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

READ_EVERY_SECONDS = 1.0  # pg_walinspect reads WAL still on disk: read it before a checkpoint recycles it


@dataclass
class WalWritten:
    cluster: int  # bytes, from pg_current_wal_lsn: other databases' writes included
    own: int | None  # bytes of the records touching this database's relations (pg_walinspect); None without it
    images: int | None  # how many of those records carry a full-page image


class WalMark:
    """A WAL position, and what was written since. With pg_walinspect a thread reads this database's records
    every second while the phase runs (the checkpoints of a busy server remove WAL segments within a minute)."""

    def __init__(self) -> None:
        self.inspectable = _walinspect_create()
        self.lsn = _wal_lsn()
        self._read_to, self._own, self._images, self.lost = self.lsn, 0, 0, False
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_while_running, daemon=True)
        if self.inspectable:
            self._reader.start()

    def since(self) -> WalWritten:
        lsn = _wal_lsn()
        if not self.inspectable:
            return WalWritten(lsn - self.lsn, None, None)
        self._stop.set()
        self._reader.join(timeout=60)
        self._read_up_to(lsn)
        return WalWritten(lsn - self.lsn, None if self.lost else self._own, None if self.lost else self._images)

    def _read_while_running(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(READ_EVERY_SECONDS):
                self._read_up_to(_wal_lsn())
        finally:
            connection.close()

    def _read_up_to(self, end: int) -> None:
        from django.db import DatabaseError

        try:
            own, images, flushed = _wal_own(self._read_to, end)
        except DatabaseError:  # a segment already removed: the figure would be short, so none is given
            self.lost = True
            return
        self._own, self._images, self._read_to = self._own + own, self._images + images, flushed


class WalMeter:
    """WAL written over a phase, per webhook stored (deliveries inserted)."""

    def __init__(self) -> None:
        self.mark, self.deliveries = WalMark(), _deliveries()

    def print(self) -> None:
        written, webhooks = self.mark.since(), _deliveries() - self.deliveries
        per = max(1, webhooks)
        print(
            f"   WAL over the HTTP phases, {webhooks:,} webhooks stored: the cluster's"
            f" {written.cluster / 1e6:.1f} MB, {written.cluster / per:,.0f} bytes per webhook"
        )
        if written.own is not None and written.images is not None:
            print(
                f"   this database's (pg_walinspect): {written.own / 1e6:.1f} MB, {written.own / per:,.0f} bytes and"
                f" {written.images / per:.2f} full-page images per webhook"
            )
        elif written.own is None and written.images is None and webhooks and self.mark.inspectable:
            print("   this database's (pg_walinspect): not measured, a checkpoint removed the WAL before it was read")


def _walinspect_create() -> bool:
    from django.db import DatabaseError, connection

    if connection.vendor != "postgresql":
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
    except DatabaseError:
        return False
    return True


def _wal_lsn() -> int:
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        row: Any = cursor.fetchone()
    return int(row[0])


def _deliveries() -> int:
    from webhooks.models import Delivery

    return Delivery.objects.count()


WAL_OWN_SQL = """
SELECT coalesce(sum(record_length), 0), count(*) FILTER (WHERE fpi_length > 0)
FROM pg_get_wal_records_info('0/0'::pg_lsn + %s::numeric, '0/0'::pg_lsn + %s::numeric)
WHERE block_ref LIKE '%%/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/%%'
"""


def _wal_own(start: int, end: int) -> tuple[int, int, int]:
    """WAL bytes of the records between ``start`` and ``end`` (or the WAL flushed, if less: pg_walinspect reads
    no further) that touch this database's relations, how many carry a full-page image, and where it stopped."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn")
        flushed: Any = cursor.fetchone()
        stop = min(end, int(flushed[0]))
        if stop <= start:
            return 0, 0, start
        cursor.execute(WAL_OWN_SQL, [start, stop])
        row: Any = cursor.fetchone()
    return int(row[0]), int(row[1]), stop
