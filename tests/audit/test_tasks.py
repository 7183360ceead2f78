"""The hourly verification task: exact counts, one integrity-failure event per broken chain."""

from __future__ import annotations

import logging
import uuid

import pytest

from audit.models import OPERATOR_CHAIN, AuditAction, AuditEvent
from audit.selectors import audit_chains_verify_all
from audit.services import audit_record
from audit.tasks import audit_verify_chains_task
from core.locks import held_lock
from tests.audit.support import tamper


@pytest.fixture
def three_chains(tenant_a_id: uuid.UUID, tenant_b_id: uuid.UUID) -> list[AuditEvent]:
    """Operator: 1 event; tenant A: 3 events (returned); tenant B: 2 events."""
    audit_record(action=AuditAction.LOGIN_SUCCEEDED, tenant_id=None)
    events_a = [audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_a_id) for _ in range(3)]
    for _ in range(2):
        audit_record(action=AuditAction.API_KEY_ISSUED, tenant_id=tenant_b_id)
    return events_a


@pytest.mark.django_db
def test_clean_chains_are_counted_and_nothing_is_recorded(three_chains: list[AuditEvent]) -> None:
    counts = audit_verify_chains_task()

    assert counts == {"chains": 3, "events": 6, "broken": 0}
    assert AuditEvent.objects.filter(action=AuditAction.INTEGRITY_FAILURE).count() == 0
    assert AuditEvent.objects.count() == 6


@pytest.mark.django_db
def test_a_broken_chain_is_logged_and_recorded_once_on_the_operator_chain(
    three_chains: list[AuditEvent], tenant_a_id: uuid.UUID, caplog: pytest.LogCaptureFixture
) -> None:
    tampered = three_chains[1]
    tamper("UPDATE audit_auditevent SET target_id = %s WHERE id = %s", ["someone-else", tampered.id])

    with caplog.at_level(logging.ERROR, logger="audit.services"):
        counts = audit_verify_chains_task()

    assert counts == {"chains": 3, "events": 5, "broken": 1}  # tenant A is read up to its break at seq 2
    failure = AuditEvent.objects.get(action=AuditAction.INTEGRITY_FAILURE)
    assert (failure.chain, failure.seq, failure.tenant_id) == (OPERATOR_CHAIN, 2, None)
    assert failure.details == {"chain": str(tenant_a_id), "seq": 2, "reason": "hash_mismatch"}
    assert (failure.target_type, failure.target_id) == ("audit_chain", str(tenant_a_id))
    [record] = [record for record in caplog.records if record.name == "audit.services"]
    assert (record.getMessage(), record.levelno) == ("audit chain broken", logging.ERROR)
    logged = {key: getattr(record, key) for key in ("chain", "seq", "event_id", "reason")}
    assert logged == {"chain": str(tenant_a_id), "seq": 2, "event_id": str(tampered.id), "reason": "hash_mismatch"}
    assert [report.is_intact for report in audit_chains_verify_all()] == [False, True, True]


@pytest.mark.django_db
def test_each_broken_chain_gets_its_own_event(three_chains: list[AuditEvent], tenant_b_id: uuid.UUID) -> None:
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [three_chains[0].id])
    tamper("DELETE FROM audit_auditevent WHERE chain = %s AND seq = %s", [str(tenant_b_id), 2])

    counts = audit_verify_chains_task()

    assert counts == {"chains": 3, "events": 3, "broken": 2}
    details = AuditEvent.objects.filter(action=AuditAction.INTEGRITY_FAILURE).order_by("seq").values_list("details")
    assert [detail for (detail,) in details] == [
        {"chain": str(three_chains[0].tenant_id), "seq": 1, "reason": "missing_event"},
        {"chain": str(tenant_b_id), "seq": 2, "reason": "head_mismatch"},
    ]


@pytest.mark.django_db
def test_a_run_is_skipped_while_another_holds_the_lock(three_chains: list[AuditEvent]) -> None:
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [three_chains[0].id])

    with held_lock("periodic:audit-verify-chains", ttl_seconds=60) as acquired:
        counts = audit_verify_chains_task()

    assert (acquired, counts) == (True, {"skipped": 1})
    assert AuditEvent.objects.filter(action=AuditAction.INTEGRITY_FAILURE).count() == 0


def test_the_task_has_its_stable_name() -> None:
    assert audit_verify_chains_task.name == "maintenance.audit_verify_chains"
