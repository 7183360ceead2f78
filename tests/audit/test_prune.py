"""Pruning under audit_days: old events go behind a signed checkpoint and the chain still verifies from it."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils.connection import ConnectionDoesNotExist

from accounts.models import Tenant
from audit import services as audit_services
from audit.checkpoints.files import checkpoint_path
from audit.checkpoints.models import AuditCheckpoint
from audit.checkpoints.prune import audit_chain_prune, audit_prune_events
from audit.checkpoints.selectors import checkpoint_public_key
from audit.checkpoints.services import checkpoint_write
from audit.models import OPERATOR_CHAIN, AuditAction, AuditEvent
from audit.selectors import audit_chain_verify
from audit.verify import BreakReason, ChainBreak
from gateway.env import new_signing_key
from policies.models import LegalHold, RetentionPolicy
from policies.retention.audit_prune import audit_retention_apply
from policies.tasks import audit_prune_task
from tests.audit.support import postgresql_only, tamper
from tests.clock import StoppedClock

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> StoppedClock:
    stopped = StoppedClock(NOW)
    monkeypatch.setattr(audit_services, "timezone", stopped)
    return stopped


def record_aged(clock: StoppedClock, tenant_id: uuid.UUID | None, *ages_in_days: float) -> list[AuditEvent]:
    events = []
    for age in ages_in_days:
        clock.at = NOW - timedelta(days=age)
        events.append(audit_record_one(tenant_id))
    clock.at = NOW
    return events


def audit_record_one(tenant_id: uuid.UUID | None) -> AuditEvent:
    return audit_services.audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_id, actor_label="alice")


def stored_seqs(chain: str) -> list[int]:
    return list(AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True))


@pytest.fixture
def tenant_30_days(tenant_a: Tenant) -> Tenant:
    RetentionPolicy.objects.create(tenant=tenant_a, audit_days=30)
    return tenant_a


def test_events_past_audit_days_go_and_the_chain_verifies_from_the_checkpoint(
    tenant_30_days: Tenant, clock: StoppedClock, checkpoint_dir: Path
) -> None:
    chain = str(tenant_30_days.pk)
    events = record_aged(clock, tenant_30_days.pk, 31, 30, 29)

    counts = audit_retention_apply(now=NOW)

    assert counts == {"chains": 2, "events": 1, "held": 0, "refused": 0, "complete": 1}
    assert stored_seqs(chain) == [2, 3, 4]
    checkpoint = AuditCheckpoint.objects.get(chain=chain)
    assert (checkpoint.seq, checkpoint.event_hash) == (1, events[0].hash)
    assert checkpoint_path(chain=chain, number=1).exists()
    pruned = AuditEvent.objects.get(chain=chain, seq=4)
    assert (pruned.action, pruned.details) == (
        AuditAction.AUDIT_PRUNED,
        {"events": 1, "through_seq": 1, "checkpoint": 1},
    )
    report = audit_chain_verify(chain=chain)
    assert (report.is_intact, report.events) == (True, 3)


def test_a_second_pass_removes_nothing_more(tenant_30_days: Tenant, clock: StoppedClock) -> None:
    record_aged(clock, tenant_30_days.pk, 31, 29)
    audit_retention_apply(now=NOW)

    assert audit_retention_apply(now=NOW)["events"] == 0
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_PRUNED).count() == 1


def test_a_tampered_remaining_event_is_still_detected(tenant_30_days: Tenant, clock: StoppedClock) -> None:
    chain = str(tenant_30_days.pk)
    record_aged(clock, tenant_30_days.pk, 31, 30, 29)
    audit_retention_apply(now=NOW)
    tamper("UPDATE audit_auditevent SET actor_label = %s WHERE chain = %s AND seq = %s", ["mallory", chain, 2])

    report = audit_chain_verify(chain=chain)

    assert report.broken_at is not None
    assert (report.broken_at.seq, report.broken_at.reason) == (2, BreakReason.HASH_MISMATCH)


def test_a_removed_first_remaining_event_is_detected(tenant_30_days: Tenant, clock: StoppedClock) -> None:
    chain = str(tenant_30_days.pk)
    record_aged(clock, tenant_30_days.pk, 31, 30, 29)
    audit_retention_apply(now=NOW)
    tamper("DELETE FROM audit_auditevent WHERE chain = %s AND seq = %s", [chain, 2])

    report = audit_chain_verify(chain=chain)

    assert report.broken_at == ChainBreak(2, None, BreakReason.MISSING_EVENT)


def test_without_its_checkpoint_file_a_pruned_chain_fails_clearly(tenant_30_days: Tenant, clock: StoppedClock) -> None:
    chain = str(tenant_30_days.pk)
    record_aged(clock, tenant_30_days.pk, 31, 30, 29)
    audit_retention_apply(now=NOW)
    checkpoint_path(chain=chain, number=1).unlink()
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 of 1 audit chains broken"):
        call_command("audit", "verify", "--chain", chain, stdout=out)

    assert audit_chain_verify(chain=chain).broken_at == ChainBreak(1, None, BreakReason.CHECKPOINT_MISSING)
    assert out.getvalue() == (
        f"chain {chain}: BROKEN at seq 1 (no event row): checkpoint_missing "
        "(events up to here were removed and no checkpoint file here vouches for them)\n"
    )


def test_a_changed_checkpoint_file_fails_verification(tenant_30_days: Tenant, clock: StoppedClock) -> None:
    chain = str(tenant_30_days.pk)
    record_aged(clock, tenant_30_days.pk, 31, 29)
    audit_retention_apply(now=NOW)
    path = checkpoint_path(chain=chain, number=1)
    data = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(data.replace(b'"seq":1', b'"seq":2'))

    assert audit_chain_verify(chain=chain).broken_at == ChainBreak(1, None, BreakReason.CHECKPOINT_INVALID)


def test_a_tenant_under_a_legal_hold_keeps_its_chain(tenant_30_days: Tenant, clock: StoppedClock) -> None:
    record_aged(clock, tenant_30_days.pk, 31, 29)
    LegalHold.objects.create(tenant=tenant_30_days, case_reference="C-1", reason="case", placed_by="test")

    counts = audit_retention_apply(now=NOW)

    assert counts == {"chains": 1, "events": 0, "held": 1, "refused": 0, "complete": 1}
    assert stored_seqs(str(tenant_30_days.pk)) == [1, 2]
    assert AuditCheckpoint.objects.count() == 0


def test_a_tenant_without_a_policy_keeps_events_for_the_default_lifetime(tenant_a: Tenant, clock: StoppedClock) -> None:
    record_aged(clock, tenant_a.pk, 2556, 2554)

    assert audit_retention_apply(now=NOW)["events"] == 1
    assert stored_seqs(str(tenant_a.pk)) == [2, 3]


def test_the_operator_chain_follows_its_setting(clock: StoppedClock, settings) -> None:
    settings.GATEWAY_AUDIT_OPERATOR_DAYS = 400
    record_aged(clock, None, 401, 399)

    assert audit_retention_apply(now=NOW) == {"chains": 1, "events": 1, "held": 0, "refused": 0, "complete": 1}
    assert stored_seqs(OPERATOR_CHAIN) == [2, 3]
    assert audit_chain_verify(chain=OPERATOR_CHAIN).is_intact


def test_batches_each_end_at_a_checkpoint(tenant_a_id: uuid.UUID, clock: StoppedClock) -> None:
    chain = str(tenant_a_id)
    record_aged(clock, tenant_a_id, 50, 49, 48, 47, 46, 45, 44, 1)

    removed = audit_chain_prune(chain=chain, before=NOW - timedelta(days=30), batch_size=3)

    assert removed == 7
    assert list(AuditCheckpoint.objects.filter(chain=chain).values_list("number", "seq", "count")) == [
        (1, 3, 3),
        (2, 6, 3),
        (3, 7, 1),
    ]
    assert stored_seqs(chain) == [8, 9]
    assert audit_chain_verify(chain=chain).is_intact


def test_a_chain_pruned_to_nothing_still_verifies(tenant_a_id: uuid.UUID, clock: StoppedClock) -> None:
    chain = str(tenant_a_id)
    record_aged(clock, tenant_a_id, 40, 35)

    assert audit_chain_prune(chain=chain, before=NOW - timedelta(days=30)) == 2
    assert stored_seqs(chain) == [3]
    assert audit_chain_verify(chain=chain).is_intact


def test_a_tampered_old_event_stops_the_prune(tenant_30_days: Tenant, clock: StoppedClock) -> None:
    chain = str(tenant_30_days.pk)
    events = record_aged(clock, tenant_30_days.pk, 32, 31, 29)
    tamper("UPDATE audit_auditevent SET actor_label = %s WHERE id = %s", ["mallory", events[0].id])

    assert audit_retention_apply(now=NOW) == {"chains": 2, "events": 0, "held": 0, "refused": 1, "complete": 1}
    assert stored_seqs(chain) == [1, 2, 3]


def test_the_delete_goes_through_the_configured_connection(tenant_a_id: uuid.UUID, settings) -> None:
    audit_record_one(tenant_a_id)
    checkpoint_write(chain=str(tenant_a_id), seq=1)
    settings.GATEWAY_AUDIT_PRUNE_DB_ALIAS = "audit_operator"

    with pytest.raises(ConnectionDoesNotExist):
        audit_prune_events(chain=str(tenant_a_id), up_to_seq=1)

    assert stored_seqs(str(tenant_a_id)) == [1]


def test_the_beat_task_prunes_and_returns_counts(tenant_30_days: Tenant, clock: StoppedClock, monkeypatch) -> None:
    record_aged(clock, tenant_30_days.pk, 31, 29)
    monkeypatch.setattr("policies.tasks.timezone", clock)

    assert audit_prune_task() == {"chains": 2, "events": 1, "held": 0, "refused": 0, "complete": 1}


def with_prune_flag(change: Callable[[], object]) -> None:
    """``change`` in a transaction that set the prune's flag, as only ``audit_prune_events`` does."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('gateway.audit_prune', 'on', true)")
        change()


@postgresql_only("the append-only trigger exists on PostgreSQL only")
def test_the_trigger_lets_only_the_prune_delete_and_only_behind_a_checkpoint(tenant_a_id: uuid.UUID) -> None:
    chain = str(tenant_a_id)
    for _ in range(3):
        audit_record_one(tenant_a_id)
    checkpoint_write(chain=chain, seq=2)

    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        AuditEvent.objects.filter(chain=chain, seq=1).delete()
    with pytest.raises(DatabaseError, match="append-only: DELETE"):
        with_prune_flag(lambda: AuditEvent.objects.filter(chain=chain, seq=3).delete())
    with pytest.raises(DatabaseError, match="append-only: UPDATE"):
        with_prune_flag(lambda: AuditEvent.objects.filter(chain=chain, seq=1).update(actor_label="mallory"))

    assert audit_prune_events(chain=chain, up_to_seq=2) == 2
    assert stored_seqs(chain) == [3]
    checkpoint_write(chain=chain, seq=3)
    # The prune turned its flag off again: in this (the test's) transaction a plain delete is refused once more.
    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        AuditEvent.objects.filter(chain=chain, seq=3).delete()


def test_after_a_key_rotation_the_earlier_public_key_keeps_a_pruned_chain_verifiable(
    tenant_30_days: Tenant, clock: StoppedClock, settings
) -> None:
    chain = str(tenant_30_days.pk)
    record_aged(clock, tenant_30_days.pk, 31, 29)
    audit_retention_apply(now=NOW)
    earlier = checkpoint_public_key()
    settings.GATEWAY_AUDIT_SIGNING_KEY = new_signing_key()

    unknown_key = audit_chain_verify(chain=chain).broken_at
    settings.GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEYS = [earlier]

    assert unknown_key == ChainBreak(1, None, BreakReason.CHECKPOINT_INVALID)
    assert audit_chain_verify(chain=chain).is_intact


def test_no_batch_starts_after_the_deadline(tenant_a_id: uuid.UUID, clock: StoppedClock) -> None:
    chain = str(tenant_a_id)
    record_aged(clock, tenant_a_id, 50, 49)

    assert audit_chain_prune(chain=chain, before=NOW - timedelta(days=30), deadline=time.monotonic() - 1) == 0
    assert stored_seqs(chain) == [1, 2]
    assert AuditCheckpoint.objects.count() == 0


def test_a_checkpoint_whose_file_is_gone_is_written_again_before_the_prune(
    tenant_30_days: Tenant, clock: StoppedClock
) -> None:
    chain = str(tenant_30_days.pk)
    record_aged(clock, tenant_30_days.pk, 31, 29)
    checkpoint_write(chain=chain, seq=1)
    checkpoint_path(chain=chain, number=1).unlink()

    assert audit_retention_apply(now=NOW)["events"] == 1

    assert list(AuditCheckpoint.objects.filter(chain=chain).values_list("number", "seq")) == [(1, 1), (2, 1)]
    assert audit_chain_verify(chain=chain).is_intact
