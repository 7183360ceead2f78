"""Counted slots across processes: at most ``slots`` holders at once, a slot freed on release, and a dead holder's
slot freed by its expiry; the same on Redis and on the database (the embedded default)."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from core.locks import held_slot
from core.models import Lease

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["redis", "database"])
def store(request: pytest.FixtureRequest, settings: Any) -> str:
    if request.param == "database":
        settings.REDIS_URL = ""
    return str(request.param)


@pytest.mark.usefixtures("store")
def test_no_more_holders_than_slots_and_a_released_slot_is_free_again() -> None:
    with ExitStack() as stack:
        held = [stack.enter_context(held_slot("endpoint:x", slots=2, ttl_seconds=60)) for _ in range(2)]
        with held_slot("endpoint:x", slots=2, ttl_seconds=60) as third:
            assert (held, third) == ([True, True], False)
        with held_slot("endpoint:y", slots=2, ttl_seconds=60) as elsewhere:
            assert elsewhere
    with held_slot("endpoint:x", slots=2, ttl_seconds=60) as after:
        assert after


def test_a_dead_holders_slot_is_free_once_it_expires(settings: Any) -> None:
    settings.REDIS_URL = ""
    with held_slot("endpoint:x", slots=1, ttl_seconds=60) as first:
        assert first
        Lease.objects.filter(name="endpoint:x:0").update(expires_at=timezone.now() - timedelta(seconds=1))
        with held_slot("endpoint:x", slots=1, ttl_seconds=60) as second:
            assert second
