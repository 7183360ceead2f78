"""Each figure of the report equals a count made here from the seed's own lists, for each of two tenants."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from datetime import datetime, timedelta

import pytest

from accounts.models import Tenant
from audit.alerts.models import HourlyCount, SecurityAlert, Severity
from audit.alerts.selectors import SIGNATURE_FAILURES_METRIC
from console.reports.figures import TransparencyFigures, transparency_figures
from console.reports.periods import period_parse
from console.reports.types import AGE_BOUNDS_DAYS, LabelCount, PolicyChange
from tests.console import seed
from tests.console.seed import END, NOVEMBER, NOW, START, Seeded
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db(transaction=False)


def _figures(seeded: Seeded) -> TransparencyFigures:
    return transparency_figures(tenant=seeded.tenant, period=period_parse(NOVEMBER), now=NOW)


def _in_period(when: datetime) -> bool:
    return START <= when < END


def _ages(stamps: list[datetime]) -> tuple[int, ...]:
    buckets = Counter(sum(NOW - stamp >= timedelta(days=days) for days in AGE_BOUNDS_DAYS) for stamp in stamps)
    return tuple(buckets[index] for index in range(len(AGE_BOUNDS_DAYS) + 1))


def _nearest_rank(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1]


def test_messages_by_platform_and_direction(seeded_a: Seeded, seeded_b: Seeded) -> None:
    for seeded, rows in ((seeded_a, seed.MESSAGES_A), (seeded_b, seed.MESSAGES_B)):
        expected = Counter((platform, direction) for platform, direction, when in rows if _in_period(when))
        counted = {(row.platform, row.direction): row.count for row in _figures(seeded).messages}
        assert counted == {
            (platform, direction): expected[(platform, direction)]
            for platform in ("whatsapp", "messenger", "instagram")
            for direction in ("inbound", "outbound")
        }
    assert {(row.platform, row.direction): row.count for row in _figures(seeded_a).messages if row.count} == {
        ("whatsapp", "inbound"): 3,
        ("whatsapp", "outbound"): 1,
        ("messenger", "inbound"): 1,
        ("messenger", "outbound"): 2,
    }


def test_data_held_by_kind_and_age(seeded_a: Seeded, seeded_b: Seeded) -> None:
    for seeded in (seeded_a, seeded_b):
        messages = [row.received_at for row in seeded.messages]
        contents = [row.received_at for row in seeded.messages if row is not seeded_a.messages[8]]
        media = [row.received_at for row in seeded.media if row.status == "stored"]
        contacts = [row.received_at for row in seeded.messages]  # each contact was created with its message
        raw = [row.received_at for row in seeded.deliveries]
        held = {row.kind: (row.total, row.by_age) for row in _figures(seeded).data_held}
        assert held == {
            "messages": (len(messages), _ages(messages)),
            "message contents": (len(contents), _ages(contents)),
            "media files": (len(media), _ages(media)),
            "contacts": (len(contacts), _ages(contacts)),
            "raw webhook deliveries": (len(raw), _ages(raw)),
        }
    assert {row.kind: row.total for row in _figures(seeded_a).data_held} == {
        "messages": 10,
        "message contents": 9,
        "media files": 3,
        "contacts": 10,
        "raw webhook deliveries": 7,
    }


def test_purges_and_key_destructions(seeded_a: Seeded, seeded_b: Seeded) -> None:
    removed: Counter[str] = Counter()
    for _, counts in seed.PURGES_A:
        removed.update({kind: count for kind, count in counts.items() if kind != "complete"})
    purges = _figures(seeded_a).purges
    assert purges.runs == len(seed.PURGES_A) == 2
    assert (
        {row.label: row.count for row in purges.removed}
        == dict(removed)
        == {
            "messages": 8,
            "media": 2,
            "raw_deliveries": 4,
        }
    )
    assert purges.keys_destroyed == len(seed.KEYS_A)
    assert purges.keys_destroyed_by_purpose == (LabelCount("content", 2), LabelCount("subject", 1))
    other = _figures(seeded_b).purges
    assert (other.runs, other.removed, other.keys_destroyed) == (1, (LabelCount("messages", 70),), 1)


def test_subject_rights_counts_and_time_to_complete(seeded_a: Seeded, seeded_b: Seeded) -> None:
    asked = [row for row in seed.EXPORTS_A if _in_period(row[1])]
    seconds = sorted(
        int((done - requested).total_seconds()) for _, requested, outcome, done in asked if "ready" in outcome
    )
    subjects = _figures(seeded_a).subjects
    assert subjects.exports_requested == len(asked) == 3
    assert subjects.exports_ready == len(seconds) == 2
    assert subjects.exports_failed == 1
    assert (subjects.export_seconds_median, subjects.export_seconds_max) == (seconds[0], seconds[-1]) == (30, 120)
    assert subjects.erasures == len(seed.ERASURES_A)
    assert subjects.erasures_refused == len(seed.ERASURES_REFUSED_A)
    other = _figures(seeded_b).subjects
    assert (other.exports_requested, other.exports_ready, other.export_seconds_max, other.erasures) == (1, 1, 3600, 1)


def test_legal_holds(seeded_a: Seeded, seeded_b: Seeded) -> None:
    holds = _figures(seeded_a).holds
    assert (holds.placed, holds.released) == (len(seed.HOLDS_PLACED_A), len(seed.HOLDS_RELEASED_A))
    assert holds.active_now == 1  # C-1; C-2 was released and C-3 ended on November 20
    other = _figures(seeded_b).holds
    assert (other.placed, other.released, other.active_now) == (1, 0, 1)


def test_reveals_by_reason(seeded_a: Seeded, seeded_b: Seeded) -> None:
    reasons = Counter(" ".join(reason.split()) for when, reason in seed.REVEALS_A if _in_period(when))
    assert {row.label: row.count for row in _figures(seeded_a).reveals} == dict(reasons)
    assert _figures(seeded_a).reveals == (LabelCount("customer complaint", 2), LabelCount("legal request", 1))
    assert _figures(seeded_b).reveals == (LabelCount("audit sample", 1),)


def test_staff_access(seeded_a: Seeded, seeded_b: Seeded) -> None:
    access = _figures(seeded_a).staff_access
    assert (access.member_logins, access.members_logged_in, access.operator_logins) == (3, 1, 2)
    other = _figures(seeded_b).staff_access
    assert (other.member_logins, other.members_logged_in, other.operator_logins) == (1, 1, 2)


def test_retention_policy_in_force_and_its_changes(seeded_a: Seeded, seeded_b: Seeded) -> None:
    retention = _figures(seeded_a).retention
    values = {row.label: row.count for row in retention.values}
    assert retention.source == "tenant"
    assert (values["metadata_days"], values["media_days"], values["audit_days"]) == (400, 20, 500)
    assert values["content_days_after_delivery"] == -1  # no limit
    assert [(change.scope, change.fields) for change in retention.changes] == [
        ("tenant policy created", ("metadata_days",)),
        ("tenant policy changed", ("audit_days", "media_days")),
    ]
    assert isinstance(retention.changes[0], PolicyChange)
    other = _figures(seeded_b).retention
    assert (other.source, other.changes, other.channel_overrides) == ("default", (), 0)


def test_webhook_latency_and_availability(seeded_a: Seeded, seeded_b: Seeded) -> None:
    in_period = [row for row in seed.DELIVERIES_A if _in_period(row[0])]
    latencies = [latency for _, status, latency in in_period if status == "processed" and latency is not None]
    minutes: dict[datetime, list[str]] = {}
    for when, status, _ in in_period:
        minutes.setdefault(when.replace(second=0), []).append(status)
    all_processed = sum(all(status == "processed" for status in statuses) for statuses in minutes.values())
    hooks = _figures(seeded_a).webhooks
    assert (hooks.deliveries, hooks.processed, hooks.failed, hooks.waiting) == (len(in_period), 4, 1, 1)
    assert hooks.latency_ms_median == _nearest_rank(latencies, 0.5) == 200
    assert hooks.latency_ms_p95 == _nearest_rank(latencies, 0.95) == 1000
    assert hooks.latency_ms_max == max(latencies)
    assert (hooks.minutes_with_deliveries, hooks.minutes_all_processed) == (len(minutes), all_processed) == (3, 1)
    assert hooks.availability_percent == "33.33"
    other = _figures(seeded_b).webhooks
    assert (other.deliveries, other.latency_ms_max, other.availability_percent) == (1, 9000, "100.00")


def _alert(tenant_id: uuid.UUID | None, first_seen: datetime, key: str) -> SecurityAlert:
    return SecurityAlert.objects.create(
        tenant_id=tenant_id, detector="webhook.signature_failures", severity=Severity.HIGH, dedupe_key=key,
        title="Forged webhooks", suggested_action="Check the app secret.", first_seen=first_seen, last_seen=first_seen,
    )  # fmt: skip


def _failures(tenant_id: uuid.UUID | None, hour: datetime, count: int, app: str) -> HourlyCount:
    return HourlyCount.objects.create(
        metric=SIGNATURE_FAILURES_METRIC, subject=app, tenant_id=tenant_id, hour=hour, count=count
    )


def test_security_figures_count_the_alerts_and_signature_failures_of_the_period(
    seeded_a: Seeded, tenant_b: Tenant
) -> None:
    tenant_a = seeded_a.tenant.pk
    in_period = [START, START + timedelta(days=3), END - timedelta(seconds=1)]
    for index, first_seen in enumerate(in_period):
        _alert(tenant_a, first_seen, f"a-{index}")
    _alert(tenant_a, START - timedelta(seconds=1), "before")
    _alert(tenant_a, END, "after")
    _alert(tenant_b.pk, START + timedelta(days=1), "other tenant")
    _alert(None, START + timedelta(days=1), "operator")
    hours = {START: 4, START + timedelta(days=10, hours=5): 7, END - timedelta(hours=1): 2}
    for hour, count in hours.items():
        _failures(tenant_a, hour, count, f"app-{hour:%d%H}")
    _failures(tenant_a, START - timedelta(hours=1), 100, "app-before")
    _failures(tenant_a, END, 100, "app-after")
    _failures(tenant_b.pk, START, 50, "app-b")

    figures = _figures(seeded_a)

    assert figures.security_alerts == len(in_period) == 3
    assert figures.signature_failures == sum(hours.values()) == 13


def test_a_tenant_without_data_has_zero_figures(seeded_a: Seeded, tenant_b: Tenant) -> None:
    figures = transparency_figures(tenant=tenant_b, period=period_parse(NOVEMBER), now=NOW)
    assert sum(row.count for row in figures.messages) == 0
    assert sum(row.total for row in figures.data_held) == 0
    assert (figures.purges.runs, figures.subjects.exports_requested, figures.holds.placed, figures.reveals) == (
        0,
        0,
        0,
        (),
    )
    assert figures.webhooks.availability_percent is None
    assert figures.webhooks.latency_ms_median is None


def test_acknowledgement_latency_counts_the_deliveries_that_recorded_one(seeded_a: Seeded) -> None:
    in_period = [delivery for delivery in seeded_a.deliveries if _in_period(delivery.received_at)]
    acks = [7, 2, 40, 3, 11]
    for delivery, ack in zip(in_period, acks, strict=False):
        Delivery.objects.filter(pk=delivery.pk).update(ack_ms=ack)  # the rest predate the field: none
    recorded = sorted(acks[: len(in_period)])
    assert len(recorded) >= 3

    hooks = _figures(seeded_a).webhooks

    assert (hooks.ack_ms_median, hooks.ack_ms_p95, hooks.ack_ms_max) == (
        _nearest_rank(recorded, 0.5),
        _nearest_rank(recorded, 0.95),
        max(recorded),
    )
