"""The floor phase of bench/dispatch.py: its rows seeded, its tasks published to the gateway's workers, what came
of them (the task itself is ``floor_tasks.py``, run in the workers)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from _lib.simulator import Simulator

from _dispatch.floor_tasks import ATTEMPT_TABLE, FLOOR_TASK, FLOOR_THREADS, SCHEMA, SEND_TABLE
from _dispatch.messages import POLL_SECONDS, Timings, text_content
from _dispatch.phases import SETTLE_TIMEOUT_SECONDS, Throughput, throughput_measured

if TYPE_CHECKING:
    from messaging.models import Channel


def floor_tables_create() -> None:
    from django.conf import settings
    from django.db import connection

    from messaging.outbound.dispatch.calls import CALL_THREADS

    if CALL_THREADS != FLOOR_THREADS:
        raise RuntimeError(f"the floor's threads ({FLOOR_THREADS}) must be the dispatcher's CALL_THREADS")
    if not settings.GATEWAY_GRAPH_BASE_URL:
        raise RuntimeError("no GATEWAY_GRAPH_BASE_URL")
    with connection.cursor() as cursor:
        cursor.execute(SCHEMA)


def floor_rows_queue(channels: list[Channel], count: int, *, serial: Iterator[int]) -> None:
    """``count`` queued rows, channels taking turns, each with the Graph path and body the dispatcher would send
    (a new callback id each), in one INSERT of arrays."""
    import json
    import uuid

    from django.conf import settings
    from django.db import connection

    from messaging.providers.registry import adapter_for

    paths, bodies = [], []
    for index in range(count):
        channel = channels[index % len(channels)]
        number = next(serial)
        suffix, body = adapter_for(channel.platform).graph_request(
            text_content(number), recipient=f"1555{number:07d}", callback_id=str(uuid.uuid4())
        )
        paths.append(f"/{settings.GATEWAY_GRAPH_API_VERSION}/{channel.provider_id}/{suffix}")
        bodies.append(json.dumps(body))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {SEND_TABLE} (path, body) SELECT * FROM unnest(%s::text[], %s::text[])",  # noqa: S608
            [paths, bodies],
        )
        cursor.execute(f"ANALYZE {SEND_TABLE}")


def floor_tasks_publish(count: int) -> None:
    """One task per FLOOR_THREADS rows, as the relay publishes the dispatcher's batches."""
    from gateway.celery import app

    for start in range(0, count, FLOOR_THREADS):
        app.send_task(FLOOR_TASK, args=(min(FLOOR_THREADS, count - start),))


def floor_wait(seconds: float) -> Counter[str]:
    from django.db import connection

    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {SEND_TABLE} WHERE status IN ('queued', 'sending'))")  # noqa: S608
            if not cursor.fetchone()[0]:
                break
            time.sleep(POLL_SECONDS)
        cursor.execute(f"SELECT status, count(*) FROM {SEND_TABLE} GROUP BY status")  # noqa: S608
        return Counter({str(status): int(rows) for status, rows in cursor.fetchall()})


def floor_timings(published_at: datetime) -> Timings:
    from django.db import connection

    result = Timings()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT outcome, finished_at FROM {ATTEMPT_TABLE}")  # noqa: S608
        for outcome, finished_at in cursor.fetchall():
            result.attempts[str(outcome)] += 1
            if outcome == "accepted":
                result.accepted_at.append(finished_at)
                result.latencies.append((finished_at - published_at).total_seconds())
    return result


def floor_reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {ATTEMPT_TABLE}, {SEND_TABLE}")


def run_floor(
    channels: list[Channel], sim: Simulator, count: int, serial: Iterator[int], pids: dict[str, list[int]]
) -> Throughput:
    """``count`` rows sent by the floor's task in the gateway's worker processes, timed from the publish."""
    floor_reset()
    floor_rows_queue(channels, count, serial=serial)
    return throughput_measured(
        sim,
        count,
        pids,
        publish=lambda _at: floor_tasks_publish(count),
        settle=lambda: floor_wait(SETTLE_TIMEOUT_SECONDS),
        timings_of=floor_timings,
    )
