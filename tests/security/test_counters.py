"""Sliding-window counters (Redis, or the database on the embedded default), hourly counts, baselines, thresholds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from audit.alerts.counters import distinct_count, mark_set, marks_take, window_count
from audit.alerts.history import hourly_baseline, hourly_count_add, hourly_total
from audit.alerts.models import HourlyCount, ThresholdOverride
from audit.alerts.thresholds import threshold_for

NOW = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
TENANT = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
OTHER_TENANT = uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")


@pytest.mark.django_db
def test_window_count_counts_the_last_window_and_forgets_older_events() -> None:
    counts = [window_count(key="k", window_seconds=60, now=NOW + timedelta(seconds=second)) for second in range(5)]
    later = window_count(key="k", window_seconds=60, now=NOW + timedelta(seconds=75))
    much_later = window_count(key="k", window_seconds=60, now=NOW + timedelta(seconds=200))

    assert counts == [1, 2, 3, 4, 5]
    assert later == 1  # the first five are more than a window and a slot ago
    assert much_later == 1
    assert window_count(key="other", window_seconds=60, now=NOW) == 1


@pytest.mark.django_db
def test_window_count_never_undercounts_events_inside_the_window() -> None:
    window_count(key="k", window_seconds=60, now=NOW)

    assert window_count(key="k", window_seconds=60, now=NOW + timedelta(seconds=59)) == 2


@pytest.mark.django_db
def test_distinct_count_counts_each_member_once_within_the_window() -> None:
    seen = [distinct_count(key="net", member=name, window_seconds=60, now=NOW) for name in ["a", "b", "a", "c"]]
    later = distinct_count(key="net", member="d", window_seconds=60, now=NOW + timedelta(seconds=61))

    assert seen == [1, 2, 2, 3]
    assert later == 1


@pytest.mark.django_db
def test_marks_are_taken_once_and_expire() -> None:
    mark_set(key="account:1", seconds=60, now=NOW)
    mark_set(key="network:1", seconds=60, now=NOW)

    assert marks_take(keys=["account:1", "network:2"], now=NOW) == ["account:1"]
    assert marks_take(keys=["account:1"], now=NOW) == []
    assert marks_take(keys=["network:1"], now=NOW) == ["network:1"]


@pytest.mark.django_db
def test_hourly_counts_add_up_per_hour_and_the_baseline_is_the_mean_hour_of_the_past_days() -> None:
    for hours_ago in (1, 1, 5, 30):
        hourly_count_add(metric="m", subject="app", tenant_id=TENANT, now=NOW - timedelta(hours=hours_ago))
    for _ in range(3):
        hourly_count_add(metric="m", subject="app", tenant_id=TENANT, now=NOW)  # the current hour is not history

    rows = dict(HourlyCount.objects.filter(metric="m").values_list("hour", "count"))
    assert rows[NOW.replace(minute=0) - timedelta(hours=1)] == 2
    assert rows[NOW.replace(minute=0)] == 3
    assert hourly_baseline(metric="m", subject="app", days=1, now=NOW) == pytest.approx(3 / 24)
    assert hourly_baseline(metric="m", subject="app", days=2, now=NOW) == pytest.approx(4 / 48)
    assert hourly_baseline(metric="m", subject="other", days=2, now=NOW) == 0.0
    assert hourly_total(metric="m", tenant_id=TENANT, start=NOW - timedelta(hours=6), end=NOW + timedelta(hours=1)) == 6
    assert hourly_total(metric="m", tenant_id=OTHER_TENANT, start=NOW - timedelta(days=9), end=NOW) == 0


@pytest.mark.django_db
def test_a_tenant_override_applies_to_that_tenant_only(settings: pytest.FixtureRequest) -> None:
    settings.SECURITY_DETECTION = {"api_key_failures_per_key": 20}  # type: ignore[attr-defined]
    ThresholdOverride.objects.create(tenant_id=TENANT, name="api_key_failures_per_key", value=5)

    assert threshold_for("api_key_failures_per_key", tenant_id=TENANT) == 5
    assert threshold_for("api_key_failures_per_key", tenant_id=OTHER_TENANT) == 20
    assert threshold_for("api_key_failures_per_key", tenant_id=None) == 20
