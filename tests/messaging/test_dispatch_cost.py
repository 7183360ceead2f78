"""What one try at a send costs the worker, in this process against the simulator: the statements of a single
send, and a channel refused a moment ago taking its budgets before anything of its messages is loaded."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from accounts.models import Tenant
from messaging.models import MessageStatus, MetaApp, SendAttempt
from messaging.outbound.dispatch import budgets, message_send, messages_send
from messaging.outbound.dispatch import send as dispatch_send
from messaging.outbound.dispatch.budgets import is_refused_recently
from messaging.outbound.dispatch.lease import leased_messages_load
from tests.messaging.dispatch_support import channel_pair, meta_app_for, phone_numbers, queued_messages, statuses
from tests.simulator.conftest import SimulatorClient

pytestmark = pytest.mark.django_db

PHONE_NUMBER_ID = "106540352249101"


@pytest.fixture
def meta_app(
    tenant_a: Tenant, simulator: SimulatorClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> MetaApp:
    settings.GATEWAY_GRAPH_BASE_URL = simulator.base_url
    monkeypatch.setattr(dispatch_send, "GRANT_VALID_MIN_MS", 60_000)  # nothing here is timed
    return meta_app_for(tenant_a)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[list[uuid.UUID]]:
    """The ids of each ``leased_messages_load`` call the dispatcher makes (the load and decryption of a batch)."""
    calls: list[list[uuid.UUID]] = []

    def recorded(message_ids: list[uuid.UUID]) -> object:
        calls.append(list(message_ids))
        return leased_messages_load(message_ids)

    monkeypatch.setattr(dispatch_send, "leased_messages_load", recorded)
    return calls


def test_a_single_send_is_nine_statements_besides_its_transaction_and_keys(
    simulator: SimulatorClient, meta_app: MetaApp
) -> None:
    """The lease, the load, the attempt row; then in one transaction the attempt's outcome, the acceptance (one
    UPDATE … RETURNING), the outbox row, the event's endpoints and the event; then whether anything is parked (one
    UNION). On SQLite the event's insert is three statements (``_EVENT_INSERT``). Left out: BEGIN and COMMIT
    (savepoints here), keys the test's transaction keeps from the key cache, and the budget rows of a database
    without Redis."""
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID)
    first, second = queued_messages(channel, ["15550009101", "15550009102"])
    assert message_send(message_id=first.pk) == "accepted"  # clients made

    with CaptureQueriesContext(connection) as captured:
        assert message_send(message_id=second.pk) == "accepted"

    assert [statement for statement in map(_statement, captured.captured_queries) if statement] == [
        ("UPDATE", "messaging_message"),  # the lease
        ("SELECT", "messaging_message"),  # the load, with its contact and channel
        ("INSERT", "messaging_sendattempt"),
        ("UPDATE", "messaging_sendattempt"),
        ("UPDATE", "messaging_message"),
        ("DELETE", "messaging_outboxentry"),
        ("SELECT", "events_endpoint"),
        *_EVENT_INSERT[connection.vendor],
        ("SELECT", "messaging_parkedstatus"),
    ]


# The event's insert (core.db.rows_insert): one INSERT … ON CONFLICT DO NOTHING RETURNING on PostgreSQL (with its
# deliveries in the same statement when an endpoint subscribes); elsewhere the keys present before and after.
_EVENT_INSERT = {
    "postgresql": [("INSERT", "events_event")],
    "sqlite": [("SELECT", "events_event"), ("INSERT", "events_event"), ("SELECT", "events_event")],
}


def _statement(query: dict[str, str]) -> tuple[str, str] | None:
    """(verb, first table) of a statement of the dispatcher's own; None for the rest (see above)."""
    sql = query["sql"].lstrip("(")
    table = re.search(r'(?:UPDATE|INTO|FROM)\s+"?(\w+)', sql)
    if table is None or table.group(1).startswith(("encryption_", "core_throttle")):
        return None
    return sql.split()[0], table.group(1)


def test_a_send_loads_its_messages_before_taking_their_budgets_until_its_channel_is_refused(
    simulator: SimulatorClient, meta_app: MetaApp, loads: list[list[uuid.UUID]]
) -> None:
    """A channel not refused lately: the batch is loaded and built first, so its grants are fresh at the call.
    Once refused, the channel's next batch takes its budgets from the lease and loads only what was granted."""
    channel = channel_pair(simulator, meta_app, provider_id=PHONE_NUMBER_ID, send_rate=1)
    first_batch = queued_messages(channel, phone_numbers(3, start=9_110))
    assert not is_refused_recently(channel.pk)

    outcomes = messages_send(message_ids=[message.pk for message in first_batch])

    assert outcomes == {"accepted": 1, "throttled_by_channel": 2}
    assert [sorted(ids) for ids in loads] == [sorted(message.pk for message in first_batch)]
    assert is_refused_recently(channel.pk)

    loads.clear()
    second_batch = queued_messages(channel, phone_numbers(3, start=9_120))
    outcomes = messages_send(message_ids=[message.pk for message in second_batch])

    sent = set(SendAttempt.objects.filter(message__in=second_batch).values_list("message_id", flat=True))
    assert outcomes["accepted"] == len(sent) <= 1
    assert outcomes["throttled_by_channel"] == 3 - len(sent)
    assert set().union(*loads) == sent  # the refused ones were never loaded
    assert set(statuses(second_batch).values()) <= {MessageStatus.ACCEPTED, MessageStatus.QUEUED}


def test_a_refusal_is_remembered_about_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    channel_id = uuid.uuid4()
    moments = iter([100.0, 100.5, 101.5])
    monkeypatch.setattr(f"{budgets.__name__}.time", SimpleNamespace(monotonic=lambda: next(moments)))

    budgets.refusals_record(channel_id)

    assert budgets.is_refused_recently(channel_id)  # half a second later
    assert not budgets.is_refused_recently(channel_id)  # a second and a half later
    assert channel_id not in budgets._channels_refused
