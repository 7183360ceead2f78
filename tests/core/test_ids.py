"""Time-ordered primary keys for the tables that take the most inserts."""

from __future__ import annotations

import time
import uuid

from core.models import time_ordered_uuid
from messaging.models import Contact, Message
from webhooks.models import Delivery


def test_time_ordered_ids_are_version_7_and_increase_even_within_a_millisecond() -> None:
    before_ms = time.time_ns() // 1_000_000
    ids = [time_ordered_uuid() for _ in range(5000)]
    after_ms = time.time_ns() // 1_000_000

    assert all(type(value) is uuid.UUID and value.version == 7 for value in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert before_ms <= ids[0].int >> 80 <= ids[-1].int >> 80 <= after_ms  # the clock's time, not ahead of it


def test_deliveries_and_messages_get_time_ordered_ids_other_rows_random_ones() -> None:
    assert Delivery().pk.version == 7
    assert Message().pk.version == 7
    assert Contact().pk.version == 4
