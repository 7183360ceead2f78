"""The issue's load case: 100,000 expired messages purged while signed webhooks keep arriving and being stored."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import close_old_connections, connection, connections
from django.test import Client
from django.utils import timezone

from accounts.models import Tenant
from messaging.models import Message
from policies.models import PurgeCount
from policies.retention.purge import retention_purge
from tests.policies.test_purge import SECRET, World, message_create, world_create
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import delivery_process
from webhooks.signature import signature_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "meta" / "whatsapp_text.json"
PHONE_NUMBER_ID = "106540352242922"  # the fixture's phone_number_id
EXPIRED = 100_000
ROWS_TOO = 20_000  # of which the whole row is due (metadata), not only the content
WEBHOOKS_BEFORE_PURGE = 5


def messages_clone(template: Message, count: int, **columns: Any) -> None:
    """``count`` copies of ``template`` in one INSERT … SELECT, with fresh ids and ``columns`` overridden. The
    copied ciphertexts are bound to the template's row and would not open: the purge never opens them."""
    fields = Message._meta.concrete_fields
    quote = connection.ops.quote_name
    names, values, params = [], [], []
    for model_field in fields:
        names.append(quote(str(model_field.column)))
        if model_field.primary_key:
            values.append("gen_random_uuid()")
        elif model_field.name in columns:
            values.append("%s")
            params.append(model_field.get_db_prep_value(columns[model_field.name], connection))
        else:
            values.append(quote(str(model_field.column)))
    table = quote(Message._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(values)} "  # noqa: S608 (names from metadata)
        f"FROM {table}, generate_series(1, %s) WHERE {quote('id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, count, template.pk])


@dataclass
class Ingest:
    """A thread posting signed webhooks to the live endpoint and storing each delivery, as the ingest queue does."""

    world: World
    stop: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    answers: list[int] = field(default_factory=list)
    wamids: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    backend_pid: int = 0

    def run(self) -> None:
        try:
            connection.ensure_connection()
            self.backend_pid = connection.connection.info.backend_pid
            client = Client()
            template = json.loads(FIXTURE.read_text())
            while not self.stop.is_set():
                self._one(client, template)
                if len(self.answers) >= WEBHOOKS_BEFORE_PURGE:
                    self.started.set()
        except BaseException as error:  # reported by the test, never swallowed
            self.errors.append(error)
            self.started.set()
        finally:
            connections.close_all()

    def _one(self, client: Client, template: dict[str, Any]) -> None:
        wamid = f"wamid.load-{uuid.uuid4().hex}"
        template["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
        body = json.dumps(template).encode()
        response = client.post(
            f"/webhooks/meta/{self.world.app.app_key}/",
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signature_for(SECRET, body),
        )
        self.answers.append(response.status_code)
        self.wamids.append(wamid)
        for delivery_id in Delivery.objects.filter(status=DeliveryStatus.RECEIVED).values_list("pk", flat=True):
            delivery_process(delivery_id=delivery_id)


# Whether the ingest session waits on the purge's session, and for which kind of lock. A table grows a page at a
# time under its extension lock, which every writer takes (ingest's own sessions too) for the moment the page is
# added: a wait for it is not a wait on the purge's locks, which last until its batch commits. A wait seen by the
# first column but over by the second was that short too; a wait on a purge lock lasts many samples.
LOCK_WATCH_SQL = """
SELECT %(purge)s = ANY (pg_blocking_pids(%(watched)s)),
       (SELECT wait_event FROM pg_stat_activity WHERE pid = %(watched)s AND wait_event_type = 'Lock')
"""


@dataclass
class LockWatch:
    """Polls, from its own session, whom the ingest session waits on; remembers any wait on the purge."""

    watched_pid: int
    purge_pid: int
    stop: threading.Event = field(default_factory=threading.Event)
    samples: int = 0
    waits_on_purge: int = 0
    waits_to_extend: int = 0  # for a table's extension lock, held by the purge for the moment it adds a page
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                while not self.stop.is_set():
                    cursor.execute(LOCK_WATCH_SQL, {"purge": self.purge_pid, "watched": self.watched_pid})
                    blocked, lock = cursor.fetchone() or (False, None)
                    self.samples += 1
                    self.waits_to_extend += int(blocked and lock == "extend")
                    self.waits_on_purge += int(blocked and lock not in {None, "extend"})
        except BaseException as error:
            self.errors.append(error)
        finally:
            connections.close_all()


def test_purging_100000_expired_messages_while_webhooks_keep_arriving(tenant_a: Tenant) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the load case runs on PostgreSQL")
    now = timezone.now().replace(microsecond=0)
    world = world_create(tenant_a, PHONE_NUMBER_ID)
    template = message_create(world, now=now, age_days=40)
    clone_columns: dict[str, Any] = {"provider_message_id": None, "provider_message_index": None}
    messages_clone(template, EXPIRED - ROWS_TOO - 1, **clone_columns)
    messages_clone(template, ROWS_TOO, **clone_columns, metadata_expires_at=now - timedelta(days=1))
    assert Message.objects.filter(content_expires_at__lte=now).count() == EXPIRED

    ingest = Ingest(world)
    ingest_thread = threading.Thread(target=ingest.run, daemon=True)
    ingest_thread.start()
    assert ingest.started.wait(60)
    assert not ingest.errors, ingest.errors
    connection.ensure_connection()
    watch = LockWatch(ingest.backend_pid, connection.connection.info.backend_pid)
    watch_thread = threading.Thread(target=watch.run, daemon=True)
    watch_thread.start()

    posted_before = len(ingest.answers)
    outcome = retention_purge(now=now)
    posted_during = len(ingest.answers) - posted_before

    ingest.stop.set()
    watch.stop.set()
    ingest_thread.join(60)
    watch_thread.join(60)
    close_old_connections()
    assert not ingest.errors, ingest.errors
    assert not watch.errors, watch.errors
    # Webhooks kept arriving during the purge; every one was answered 200 and stored, none waited on the purge.
    assert posted_during > 0
    assert set(ingest.answers) == {200}
    assert watch.samples > 0
    assert watch.waits_on_purge == 0, watch
    assert Delivery.objects.filter(status=DeliveryStatus.PROCESSED).count() == len(ingest.wamids)
    assert Message.objects.filter(content_purged_at__isnull=True).count() == len(ingest.wamids)
    # The record matches what was removed.
    assert outcome.complete
    counts = {row.kind: row.count for row in PurgeCount.objects.filter(run=outcome.run, tenant_id=tenant_a.pk)}
    assert counts == {"content": EXPIRED, "metadata": ROWS_TOO}
    assert Message.objects.filter(content_purged_at=now, content__isnull=True).count() == EXPIRED - ROWS_TOO
    assert Message.objects.count() == EXPIRED - ROWS_TOO + len(ingest.wamids)
    assert _stamped(now) == 0


def _stamped(now: datetime) -> int:
    """Content still due after the pass (none: nothing new expired meanwhile)."""
    return Message.objects.filter(content_expires_at__lte=now, content_purged_at__isnull=True).count()
