"""A purge pass adds what it removed, per kind, to ``gateway_purged_total``; a dry run and an empty pass add
nothing."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from accounts.models import Tenant
from core.metrics import metric_value
from policies.retention.purge import retention_purge, retention_purge_preview
from tests.policies.test_purge import message_create, world_create

pytestmark = pytest.mark.django_db


def test_a_pass_counts_what_it_removed_per_kind_and_an_empty_one_nothing(tenant_a: Tenant) -> None:
    now: datetime = timezone.now().replace(microsecond=0)
    world = world_create(tenant_a, "106540352249101")
    for age in (29, 30, 31, 45):
        message_create(world, now=now, age_days=age)
    content_before = metric_value("gateway_purged", kind="content")
    all_before = metric_value("gateway_purged")

    preview = retention_purge_preview(now=now)
    assert preview.totals()["content"] == 3
    assert metric_value("gateway_purged") == all_before  # a dry run removes nothing

    outcome = retention_purge(now=now)

    assert outcome.totals()["content"] == 3
    assert metric_value("gateway_purged", kind="content") == content_before + 3
    assert metric_value("gateway_purged") == all_before + sum(outcome.totals().values())
    again = retention_purge(now=now)
    assert sum(again.totals().values()) == 0
    assert metric_value("gateway_purged") == all_before + sum(outcome.totals().values())
