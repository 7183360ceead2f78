"""The pull feed: a tenant's events in ``sequence`` order from a cursor, for consumers that cannot take webhooks.

An event's id is drawn when it is written, but its transaction may commit after later ids have: ordering by id,
a reader at the newest id could later find an older one appear below its cursor and never see it. So the feed
orders by ``sequence``, numbered after commit: before each read, one sequencer at a time (``core.locks``) numbers
the committed events that have no number, in id order, above the highest number given. An event committed late
is numbered then, above everything a reader could already have passed. The numbering commits before the lock is
released, so two sequencers never read the same highest number. The retention purge keeps the event holding the
highest number (``events.services.events_log_purge``), so numbering never starts again below a stored cursor.
"""

from __future__ import annotations

from django.db import connection, transaction

from accounts.models import Tenant
from core.locks import held_lock
from events.models import Event
from messaging.business_events import EventType

SEQUENCER_LOCK = "events:sequencer"
SEQUENCER_LOCK_SECONDS = 60
SEQUENCE_BATCH = 10_000  # events numbered per read at most; a backlog takes a few reads

# Table and column names are the model's own; the batch size is a parameter. The partial index on unsequenced
# ids (events_event_unsequenced) finds the rows without a scan.
_NUMBER_SQL = f"""
WITH top AS (SELECT COALESCE(MAX(sequence), 0) AS number FROM {Event._meta.db_table}),
     unnumbered AS (
         SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS position
         FROM (SELECT id FROM {Event._meta.db_table} WHERE sequence IS NULL ORDER BY id LIMIT %s) AS batch
     )
UPDATE {Event._meta.db_table} AS event SET sequence = top.number + unnumbered.position
FROM top, unnumbered WHERE event.id = unnumbered.id
"""  # noqa: S608


def events_sequence(*, batch: int = SEQUENCE_BATCH) -> int:
    """Number the committed events that have none; returns how many (0 when another sequencer is at work)."""
    with held_lock(SEQUENCER_LOCK, ttl_seconds=SEQUENCER_LOCK_SECONDS) as is_held:
        if not is_held:
            return 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_NUMBER_SQL, [batch])
            return int(cursor.rowcount)


def events_after(*, tenant: Tenant, after: int, limit: int) -> list[Event]:
    """The tenant's events numbered above ``after``, in order, at most ``limit`` (test pings are not in the feed)."""
    events_sequence()
    events = Event.objects.filter(tenant=tenant, sequence__gt=after).exclude(type=EventType.PING)
    return list(events.order_by("sequence")[:limit])
