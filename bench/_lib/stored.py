"""``--stored N``: N messages already stored (with their contacts, conversations, statuses, raw deliveries and
events) written by PostgreSQL itself, one ``INSERT … SELECT generate_series`` per table, so that a phase can be
measured on big tables as well as on empty ones; and what the two runs are compared by.

Each table's rows are copies of one row written through the ORM (its template), with the columns that must differ
per row (ids, unique blind indexes, foreign keys, timestamps) computed in SQL from the series number. Encrypted
columns keep the template's sealed value: a valid envelope under a real key, bound to the template's row, so a
copy would not open. No measured phase opens a stored row's ciphertext: ingest and fan-out find contacts and
messages by their blind indexes, and the purge blanks or deletes without opening. The stored rows are due for
nothing (their content, metadata and raw bodies expire a year or more ahead), so the purge's work is the same.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from _lib.database import checkpoint, vacuum_analyze
from _lib.report import Verdict
from _lib.tenants import Registered

Measured = TypeVar("Measured")

DEFAULT_STORED = 5_000_000  # --stored without a value
STORED_TARGET = 0.8  # each figure with the rows stored, against the empty tables (the better direction up)
MESSAGES_PER_CONTACT = 10  # contacts and conversations: one per ten messages
DELIVERIES_SHARE = 0.1  # raw deliveries still kept, per message (they are short-lived)
SPREAD_DAYS = 30  # the stored rows' timestamps, over the last days
STORED_TABLES = (
    "messaging_contact",
    "messaging_conversation",
    "messaging_message",
    "messaging_statusevent",
    "webhooks_delivery",
    "events_event",
)


@dataclass(frozen=True)
class Figure:
    """One figure a run compares: its label, and whether a higher value is the better one."""

    label: str
    higher_is_better: bool


@dataclass
class Stored:
    messages: int
    rows: dict[str, int]
    seconds: dict[str, float]
    settle_seconds: float


def stored_argument(parser: Any) -> None:
    """Adds ``--stored [N]`` to a bench's parser."""
    parser.add_argument(
        "--stored",
        type=int,
        nargs="?",
        const=DEFAULT_STORED,
        default=0,
        metavar="N",
        help=(
            "run the phases on empty tables, then store N messages with their contacts, conversations, statuses,"
            f" raw deliveries and events (in SQL; {DEFAULT_STORED:,} when N is left out) and run them again;"
            f" each figure must stay within {STORED_TARGET}x of the empty run"
        ),
    )


def stored_seed(registered: Registered, messages: int) -> Stored:
    """Store ``messages`` messages of the bench's channel and what goes with them, then vacuum, analyze and make a
    checkpoint, so that the next phase pays neither for hint bits nor for the seeding's checkpoint."""
    from django.db import connection

    templates = _templates(registered)
    contacts = max(1, messages // MESSAGES_PER_CONTACT)
    end = datetime.now().astimezone()
    spread = {"start": (end - timedelta(days=SPREAD_DAYS)).timestamp(), "seconds": SPREAD_DAYS * 86400.0}
    counts = {
        "messaging_contact": contacts,
        "messaging_conversation": contacts,
        "messaging_message": messages,
        "messaging_statusevent": messages,  # two per outbound message, one message in two outbound
        "webhooks_delivery": max(1, int(messages * DELIVERIES_SHARE)),
        "events_event": messages,
    }
    seconds: dict[str, float] = {}
    connection.close()  # a new session: the foreign key checks' plans cached while the tables were small go with it
    with connection.cursor() as cursor:
        for table, statement in _statements(templates).items():
            started = time.perf_counter()
            params = {**spread, "count": counts[table], "contacts": contacts, "messages": messages}
            cursor.execute(statement, params)
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")  # the next table's key checks plan on it
            seconds[table] = time.perf_counter() - started
    started = time.perf_counter()
    vacuum_analyze(*STORED_TABLES)
    checkpoint()
    return Stored(messages, counts, seconds, time.perf_counter() - started)


def _templates(registered: Registered) -> dict[str, uuid.UUID]:
    """One row per table written through the ORM: sealed as the gateway seals it."""
    from django.utils import timezone

    from events.models import Event
    from messaging.models import Channel, Contact, Conversation, Message
    from webhooks.models import Delivery, DeliveryStatus

    channel = Channel.objects.get(provider_id=registered.channel_provider_id)
    now = timezone.now()
    contact = Contact.objects.create(
        tenant_id=channel.tenant_id, platform="whatsapp", external_id="16509990000", profile={"name": "Stored"}
    )
    conversation = Conversation.objects.create(tenant_id=channel.tenant_id, channel=channel, contact=contact)
    message = Message(
        tenant_id=channel.tenant_id, channel=channel, conversation=conversation, contact=contact,
        direction="inbound", message_type="text", status="received", received_at=now, provider_timestamp=now,
        provider_message_id="wamid.stored-template",
        content={"type": "text", "text": {"body": "a stored message of a realistic length " * 3}},
    )  # fmt: skip
    message.save()
    delivery = Delivery(
        meta_app_id=registered.meta_app_id, tenant_id=channel.tenant_id, received_at=now,
        signature="sha256=" + "0" * 64, body_bytes=1200, body=b'{"object":"whatsapp_business_account"}' * 30,
        status=DeliveryStatus.PROCESSED, processed_at=now,
    )  # fmt: skip
    delivery.save()
    event = Event.objects.create(
        tenant_id=channel.tenant_id, type="message.received", occurred_at=now, channel_id=channel.pk,
        conversation_id=conversation.pk, contact_id=contact.pk, message_id=message.pk, facts={"type": "text"},
    )  # fmt: skip
    return {
        "messaging_contact": contact.pk,
        "messaging_conversation": conversation.pk,
        "messaging_message": message.pk,
        "webhooks_delivery": delivery.pk,
        "events_event": event.pk,
    }


def time_ordered_sql(tag: str, number: str, moment: str) -> str:
    """SQL for a UUIDv7 made at ``moment``, its random bits taken from ``tag`` and ``number``: the same expression
    gives a row its id and the rows that refer to it their foreign key."""
    digest = f"md5('{tag}' || ({number})::text)"
    return (
        f"(lpad(to_hex((extract(epoch FROM {moment}) * 1000)::bigint), 12, '0') || '7' || substr({digest}, 1, 3)"
        f" || '8' || substr({digest}, 4, 15))::uuid"
    )


def _moment(number: str, total: str) -> str:
    """The ``number``-th of ``total`` instants spread evenly over the last SPREAD_DAYS days."""
    return f"to_timestamp(%(start)s + ({number})::float8 * %(seconds)s / ({total}))"


def _statements(templates: dict[str, uuid.UUID]) -> dict[str, str]:
    """Table -> one INSERT … SELECT over generate_series(1, count), in the order foreign keys need."""
    contact_at, message_at = _moment("n", "%(contacts)s"), _moment("n", "%(messages)s")
    owner = "(1 + (n - 1) %% %(contacts)s)"  # the contact (and conversation) of message n
    owner_at = _moment(owner, "%(contacts)s")
    contact = time_ordered_sql("contact", owner, owner_at)
    conversation = time_ordered_sql("conversation", owner, owner_at)
    message = time_ordered_sql("message", "n", message_at)
    outbound = "n %% 2 = 1"
    statements = {
        "messaging_contact": _clone(
            "messaging_contact", templates["messaging_contact"],
            id=time_ordered_sql("contact", "n", contact_at), created_at=contact_at, updated_at=contact_at,
            external_id_index="sha256(('stored-contact-' || n)::bytea)",
        ),
        "messaging_conversation": _clone(
            "messaging_conversation", templates["messaging_conversation"],
            id=time_ordered_sql("conversation", "n", contact_at), created_at=contact_at, updated_at=contact_at,
            contact_id=time_ordered_sql("contact", "n", contact_at), last_inbound_at=contact_at,
        ),
        "messaging_message": _clone(
            "messaging_message", templates["messaging_message"],
            id=message, created_at=message_at, updated_at=message_at, received_at=message_at,
            provider_timestamp=message_at, contact_id=contact, conversation_id=conversation,
            provider_message_index="sha256(('stored-message-' || n)::bytea)",
            direction=f"CASE WHEN {outbound} THEN 'outbound' ELSE 'inbound' END",
            status=f"CASE WHEN {outbound} THEN 'delivered' ELSE 'received' END",
            delivered_at=f"CASE WHEN {outbound} THEN {message_at} END",
            content_expires_at=f"{message_at} + interval '365 days'",
            content_key_day=f"({message_at} + interval '365 days')::date",
            metadata_expires_at=f"{message_at} + interval '730 days'",
        ),
        "messaging_statusevent": f"""
            INSERT INTO messaging_statusevent (message_id, status, provider_timestamp, recorded_at, errors)
            SELECT {time_ordered_sql("message", "m", _moment("m", "%(messages)s"))}, status,
                   {_moment("m", "%(messages)s")}, {_moment("m", "%(messages)s")}, '[]'::jsonb
            FROM generate_series(1, %(count)s / 2) AS half, LATERAL (SELECT 2 * half - 1 AS m) AS outbound,
                 unnest(ARRAY['sent', 'delivered']) AS status
        """,  # noqa: S608  (expressions of this module only)
        "webhooks_delivery": _clone(
            "webhooks_delivery", templates["webhooks_delivery"],
            id=time_ordered_sql("delivery", "n", _moment("n", "%(count)s")),
            created_at=_moment("n", "%(count)s"), updated_at=_moment("n", "%(count)s"),
            received_at=_moment("n", "%(count)s"), processed_at=_moment("n", "%(count)s"),
            expires_at=f"{_moment('n', '%(count)s')} + interval '400 days'",
        ),
        "events_event": _clone(
            "events_event", templates["events_event"],
            id=time_ordered_sql("event", "n", message_at), created_at=message_at, occurred_at=message_at,
            message_id=message, contact_id=contact, conversation_id=conversation,
            sequence="(SELECT coalesce(max(sequence), 0) FROM events_event) + n",
        ),
    }  # fmt: skip
    return statements


def _clone(table: str, template_id: uuid.UUID, **expressions: str) -> str:
    """INSERT … SELECT of ``%(count)s`` copies of the template row: every column copied but those given as SQL
    expressions of the series number ``n``."""
    from django.db import connection

    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        columns = [column.name for column in connection.introspection.get_table_description(cursor, table)]
    values = [expressions.get(column, quote(column)) for column in columns]
    return (
        f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) SELECT {', '.join(values)}"  # noqa: S608
        f" FROM {quote(table)}, generate_series(1, %(count)s) AS n WHERE {quote('id')} = '{template_id}'"
    )


def stored_print(stored: Stored) -> None:
    total = sum(stored.seconds.values())
    print()
    print(
        f"Stored: {stored.messages:,} messages written in SQL in {total:.1f} s, then VACUUM (ANALYZE) and a CHECKPOINT"
        f" in {stored.settle_seconds:.1f} s; encrypted columns hold one sealed value per table, never opened"
    )
    for table, rows in stored.rows.items():
        print(f"   {table:<24} {rows:>11,} rows {stored.seconds[table]:>7.1f} s")


def index_sizes_print() -> None:
    """pg_relation_size of every index of the stored tables, and each table's own size."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(INDEX_SIZES_SQL, [list(STORED_TABLES)])
        rows = cursor.fetchall()
    print()
    print(f"   {'table':<24} {'table MB':>9} {'index':<44} {'index MB':>9}")
    for table, table_bytes, index, index_bytes in rows:
        print(f"   {table:<24} {table_bytes / 1e6:>9.1f} {index:<44} {index_bytes / 1e6:>9.1f}")


INDEX_SIZES_SQL = """
SELECT tables.relname, pg_relation_size(tables.oid), indexes.relname, pg_relation_size(indexes.oid)
FROM pg_index
JOIN pg_class tables ON tables.oid = pg_index.indrelid
JOIN pg_class indexes ON indexes.oid = pg_index.indexrelid
WHERE tables.relname = ANY (%s)
ORDER BY tables.relname, indexes.relname
"""


def figure_of(verdict: Verdict) -> float:
    """The number a verdict's value starts with ("0.45x", "3.6 ms", "2,058/s")."""
    match = re.match(r"[\d.,]+", verdict.value)
    return float(match.group().replace(",", "")) if match else float("nan")


def stored_compare(figures: list[Figure], empty: list[float], stored: list[float], messages: int) -> list[Verdict]:
    """Prints each figure empty and stored side by side with their ratio (better direction up); one verdict each."""
    print()
    print(
        f"With {messages:,} messages stored against empty tables"
        " (ratio: stored / empty, inverted where lower is better)"
    )
    print(f"   {'figure':<36} {'empty':>10} {'stored':>10} {'ratio':>7}  target")
    verdicts = []
    for figure, before, after in zip(figures, empty, stored, strict=True):
        ratio = after / before if figure.higher_is_better else before / after
        passed = ratio >= STORED_TARGET
        print(
            f"   {figure.label:<36} {before:>10,.2f} {after:>10,.2f} {ratio:>6.2f}x  >= {STORED_TARGET}x"
            f" {'PASS' if passed else 'FAIL'}"
        )
        verdicts.append(Verdict(f"stored/empty: {figure.label}", f"{ratio:.2f}x", f">= {STORED_TARGET}x", passed))
    return verdicts


def stored_twice(
    count: int,
    registered: Registered,
    measure: Callable[[], Measured],
    figures: list[Figure],
    values: Callable[[Measured], list[float]],
) -> tuple[Measured, list[Verdict]]:
    """``measure()`` once; with ``count``, once on the empty tables, then again with ``count`` messages stored, and
    the figures (``values`` of each run) compared. Returns the last run and the comparison's verdicts."""
    from django.db import connection

    if count and connection.vendor != "postgresql":
        print(f"NOTE: --stored needs PostgreSQL (DATABASE_URL); this is {connection.vendor}: one run, nothing stored")
    if not count or connection.vendor != "postgresql":
        return measure(), []
    print()
    print("Run 1 of 2: empty tables")
    empty = measure()
    stored = stored_seed(registered, count)
    stored_print(stored)
    index_sizes_print()
    print()
    print(f"Run 2 of 2: {count:,} messages stored")
    after = measure()
    return after, stored_compare(figures, values(empty), values(after), count)
