"""Event delivery: events/s to a receiver that verifies signatures, against its capacity for plain POSTs, and the
latency from a signed Meta webhook's 200 to the business's receiver having its ``message.received``.

1. Baseline: POSTs of an event's size (its body and signed headers) to ``/_sim/sink`` of the bench's own
   simulator, from one keep-alive client, a few seconds before and after phase 2; the better one counts.
2. Throughput: ``--events`` (3,000) ``message.received`` events recorded in one transaction with
   ``business_events_record``, for a tenant with one enabled endpoint at that simulator's ``/_sim/events``
   (which verifies each Standard Webhooks signature), delivered by the events workers. Events/s from the commit
   to the last delivery (``EventDelivery.delivered_at``); the receiver must have verified every one, once.
   Target: >= 0.5x the baseline. Also: CPU per delivered event by process kind.
3. Latency: signed ``whatsapp_text.json`` webhooks paced at ``--rate`` (200/s) for ``--seconds`` (10) to the
   gateway under gunicorn, with ingest and events workers running; for each ``message.received`` delivered, the
   receiver's arrival time minus the message's ``received_at`` (the edge's time, before the 200). Target: p99
   <= 1 s.

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL: ``make bench`` finds them). Everything runs against a
throwaway database (``bench_events_<pid>``), Celery queues of the run's own (deleted at the end) and a simulator
of its own. Only 127.0.0.1 is loaded. The exit status is 0 even when a target fails, unless ``--strict``.

    make bench
    .venv/bin/python -m core.services_probe exec -- .venv/bin/python bench/events.py --events 3000 --strict
"""

from __future__ import annotations

import sys
from pathlib import Path

# The project's folder ahead of this script's (bench/, where _events and _lib are): ``events`` is the gateway's
# app, not this script.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _events.cli import main

if __name__ == "__main__":
    sys.exit(main())
