"""Fan-out: ``delivery_process`` over mixed POSTs of about 50 items, in this process (bench/ingest.py, phase 3)."""

from __future__ import annotations

import copy
import itertools
import json
import os
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from _lib.database import checkpoint, vacuum_analyze
from _lib.report import Verdict
from _lib.tenants import APP_SECRET, FIXTURES, PHONE_NUMBER_ID

FANOUT_TARGET = 1000.0  # items/s, one process
ITEMS_PER_CHANGE = 5
CHANGES_PER_ENTRY = 2
ENTRIES_PER_BATCH = 5  # 5 x 2 x 5 = 50 items per POST
FANOUT_WARMUP_BATCHES = 2
FANOUT_SECONDS_CAP = 20.0
SENDERS = 200  # distinct customers: contacts and conversations are found as often as created
RECIPIENTS = 200  # other customers, whom the business wrote to: the statuses are about messages to them
SEED_CHUNK = 500  # outbound messages stored per statement while seeding
SERIAL = itertools.count()  # item ids, never reused in a process: a second run (--stored) stores new items
SEEDED_TABLES = ("webhooks_delivery", "messaging_message", "messaging_contact", "messaging_conversation")


def fixture_items() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every WhatsApp message and status in the fixtures, as (messages, statuses)."""
    messages: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    for path in sorted(FIXTURES.glob("whatsapp_*.json")):
        payload = json.loads(path.read_text())
        for entry in payload.get("entry", []):
            for change in entry.get("changes", []):
                if change.get("field") != "messages":
                    continue
                value = change.get("value", {})
                messages.extend(value.get("messages", []))
                statuses.extend(value.get("statuses", []))
    return messages, statuses


def mixed_batches(count: int, seed: int = 7) -> list[bytes]:
    """POST bodies of ENTRIES_PER_BATCH entries x CHANGES_PER_ENTRY changes x ITEMS_PER_CHANGE items; changes
    alternate between inbound messages (every fixture type, fresh ids, SENDERS customers) and statuses (of
    messages to RECIPIENTS other customers)."""
    messages, statuses = fixture_items()
    chooser = random.Random(seed)  # noqa: S311  (a reproducible mix, not a secret)
    bodies = []
    for _ in range(count):
        entries = []
        for _ in range(ENTRIES_PER_BATCH):
            changes = []
            for change_index in range(CHANGES_PER_ENTRY):
                value: dict[str, Any] = {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                }
                if change_index % 2 == 0:
                    items, contacts = [], []
                    for _ in range(ITEMS_PER_CHANGE):
                        item = copy.deepcopy(chooser.choice(messages))
                        sender = str(16505550000 + chooser.randrange(SENDERS))
                        item["from"] = sender
                        item["id"] = f"wamid.bench-fanout-{os.getpid()}-{next(SERIAL)}"
                        items.append(item)
                        contacts.append({"profile": {"name": f"Customer {sender[-3:]}"}, "wa_id": sender})
                    value["contacts"] = contacts
                    value["messages"] = items
                else:
                    items = []
                    for _ in range(ITEMS_PER_CHANGE):
                        item = copy.deepcopy(chooser.choice(statuses))
                        item["id"] = f"wamid.bench-out-{os.getpid()}-{next(SERIAL)}"
                        item["recipient_id"] = str(16505560000 + chooser.randrange(RECIPIENTS))
                        items.append(item)
                    value["statuses"] = items
                changes.append({"value": value, "field": "messages"})
            entries.append({"id": "102290129340398", "changes": changes})
        bodies.append(json.dumps({"object": "whatsapp_business_account", "entry": entries}).encode())
    return bodies


@dataclass
class FanOut:
    batches: int = 0
    items: int = 0
    problems: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    per_batch: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # distinct item counts per POST

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def run_fanout(app_id: uuid.UUID, batches: int) -> FanOut:
    from messaging.models import MetaApp
    from messaging.providers.registry import parse_webhook
    from webhooks.services import delivery_process, delivery_record
    from webhooks.signature import signature_for

    app = MetaApp.objects.get(pk=app_id)
    bodies = mixed_batches(batches + FANOUT_WARMUP_BATCHES)
    sizes = {len(parse_webhook(body).items) for body in bodies}
    ids = [
        delivery_record(
            meta_app_id=app.pk, tenant_id=app.tenant_id, body=body, signature=signature_for(APP_SECRET, body)
        ).pk
        for body in bodies
    ]
    outbound_seed(app, bodies)
    settle_before_fanout()
    for delivery_id in ids[:FANOUT_WARMUP_BATCHES]:  # connections, key caches, first contacts
        delivery_process(delivery_id=delivery_id)
    result = FanOut()
    result.sizes = sorted(sizes)
    deadline = time.perf_counter() + FANOUT_SECONDS_CAP
    for delivery_id in ids[FANOUT_WARMUP_BATCHES:]:
        started = time.perf_counter()
        outcomes = delivery_process(delivery_id=delivery_id)
        elapsed = time.perf_counter() - started
        result.seconds += elapsed
        result.per_batch.append(elapsed)
        result.problems += outcomes.pop("problems", 0)
        result.items += sum(outcomes.values())
        result.outcomes.update(outcomes)
        result.batches += 1
        if time.perf_counter() > deadline:
            break
    return result


def outbound_seed(app: Any, bodies: list[bytes]) -> int:
    """Store the messages the batches' statuses are about, as the gateway holds them once Meta has accepted a
    send, so each status is recorded against its message as in production, not parked. Untimed."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from messaging.contacts import ContactWanted, contacts_resolve
    from messaging.inbound.store.drafts import MessageDraft
    from messaging.inbound.store.messages import messages_store
    from messaging.models import Channel, Direction, MessageStatus
    from messaging.providers.registry import parse_webhook
    from messaging.providers.whatsapp.types.statuses import StatusUpdate

    channel = Channel.objects.select_related("tenant").get(meta_app=app, provider_id=PHONE_NUMBER_ID)
    drafts = [
        MessageDraft(
            person=ContactWanted(channel=channel, external_id=item.recipient_id or ""),
            direction=Direction.OUTBOUND,
            message_type="text",
            status=MessageStatus.ACCEPTED,
            provider_message_id=item.message_id,
            provider_timestamp=item.timestamp - timedelta(seconds=5),
            content={"type": "text", "text": {"body": "Your order has shipped."}},
        )
        for body in bodies
        for item in parse_webhook(body).items
        if isinstance(item, StatusUpdate)
    ]
    for start in range(0, len(drafts), SEED_CHUNK):
        chunk = drafts[start : start + SEED_CHUNK]
        contacts = contacts_resolve([draft.person for draft in chunk])
        with transaction.atomic():  # as a delivery is stored: its business events go in the same transaction
            messages_store(chunk, contacts=contacts, received_at=timezone.now())
    return len(drafts)


def settle_before_fanout() -> None:
    """On PostgreSQL, vacuum and analyze what the HTTP phases and the seeding stored, and make a checkpoint: that
    leftover work is theirs, and autovacuum or the checkpointer would otherwise do it during the fan-out's timing.
    Analyzed, the seeded messages are also looked up as in a database that has statistics, not as in an empty
    table (0.4 ms per POST's lookup instead of 3.3 ms)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        vacuum_analyze(*SEEDED_TABLES)
        checkpoint()


def report_fanout(app_id: uuid.UUID, batches: int) -> Verdict:
    fanout = run_fanout(app_id, batches)
    print()
    print(
        f"3. Fan-out: delivery_process over {fanout.batches} mixed POSTs in this process"
        f" ({ENTRIES_PER_BATCH} entries x {CHANGES_PER_ENTRY} changes x {ITEMS_PER_CHANGE} items, messages and"
        f" statuses), after {FANOUT_WARMUP_BATCHES} warm-up POSTs"
    )
    median_batch = statistics.median(fanout.per_batch) if fanout.per_batch else float("nan")
    print(
        f"   {fanout.items} items in {fanout.seconds:.2f} s: {fanout.rate:.0f} items/s;"
        f" median {median_batch * 1e3:.0f} ms per POST of {'/'.join(map(str, fanout.sizes))} items;"
        f" {fanout.problems} parse problems"
    )
    print(f"   outcomes: {', '.join(f'{name} {count}' for name, count in sorted(fanout.outcomes.items()))}")
    if fanout.batches < batches:
        print(f"   NOTE: stopped after {fanout.batches} of {batches} POSTs ({FANOUT_SECONDS_CAP:.0f} s cap)")
    passed = fanout.rate >= FANOUT_TARGET
    return Verdict("fan-out items/s (absolute)", f"{fanout.rate:.0f}/s", f">= {FANOUT_TARGET:.0f}/s", passed)
