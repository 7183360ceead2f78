"""Verifying chains stored in the database: every chain found, breaks named, appends during a run."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from audit.models import OPERATOR_CHAIN, AuditAction, AuditChainHead
from audit.selectors import audit_chain_exists, audit_chain_names, audit_chain_verify, audit_chains_verify_all
from audit.services import audit_record
from audit.verify import BreakReason, ChainBreak, ChainReport
from tests.audit.factories import chain_build, chain_store
from tests.audit.support import tamper

VERIFY_RUNS = 20  # a head read apart from the rows reports a break in about a quarter of runs


@pytest.mark.django_db
def test_every_chain_is_verified_including_one_whose_head_is_missing(tenant_a_id: uuid.UUID) -> None:
    audit_record(action=AuditAction.LOGIN_SUCCEEDED, tenant_id=None)
    audit_record(action=AuditAction.TENANT_CREATED, tenant_id=tenant_a_id)
    audit_record(action=AuditAction.MEMBERSHIP_CREATED, tenant_id=tenant_a_id)
    headless = chain_build(2, chain="headless")
    chain_store(headless, with_head=False)
    AuditChainHead.objects.create(chain="no-events-yet")

    reports = audit_chains_verify_all()

    assert reports == [
        ChainReport(chain=str(tenant_a_id), events=2),
        ChainReport(
            chain="headless", events=1, broken_at=ChainBreak(1, headless[0]["id"], BreakReason.UNEXPECTED_EVENT)
        ),
        ChainReport(chain="no-events-yet", events=0),
        ChainReport(chain=OPERATOR_CHAIN, events=1),
    ]


@pytest.mark.django_db
def test_a_changed_row_is_named_by_seq_and_id(tenant_a_id: uuid.UUID) -> None:
    events = [audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_a_id) for _ in range(4)]
    tamper("UPDATE audit_auditevent SET ip = %s WHERE id = %s", ["203.0.113.9", events[2].id])

    report = audit_chain_verify(chain=str(tenant_a_id))

    assert report == ChainReport(
        chain=str(tenant_a_id), events=3, broken_at=ChainBreak(3, events[2].id, BreakReason.HASH_MISMATCH)
    )


@pytest.mark.django_db
def test_a_deleted_row_is_named_by_its_seq(tenant_a_id: uuid.UUID) -> None:
    events = [audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_a_id) for _ in range(4)]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].id])

    report = audit_chain_verify(chain=str(tenant_a_id))

    assert report.broken_at == ChainBreak(2, None, BreakReason.MISSING_EVENT)


@pytest.mark.django_db
def test_a_truncated_tail_is_a_head_mismatch(tenant_a_id: uuid.UUID) -> None:
    events = [audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_a_id) for _ in range(4)]
    tamper("DELETE FROM audit_auditevent WHERE seq >= %s AND chain = %s", [3, events[0].chain])

    report = audit_chain_verify(chain=str(tenant_a_id))

    assert report == ChainReport(
        chain=str(tenant_a_id), events=2, broken_at=ChainBreak(3, None, BreakReason.HEAD_MISMATCH)
    )


@pytest.mark.django_db
def test_a_chain_emptied_under_its_head_is_a_head_mismatch_at_seq_one(tenant_a_id: uuid.UUID) -> None:
    audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_a_id)
    tamper("DELETE FROM audit_auditevent WHERE chain = %s", [str(tenant_a_id)])

    report = audit_chain_verify(chain=str(tenant_a_id))

    assert report == ChainReport(
        chain=str(tenant_a_id), events=0, broken_at=ChainBreak(1, None, BreakReason.HEAD_MISMATCH)
    )


@pytest.mark.django_db
def test_the_head_can_still_be_moved_and_a_moved_head_is_reported(tenant_a_id: uuid.UUID) -> None:
    audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_a_id)
    AuditChainHead.objects.filter(chain=str(tenant_a_id)).update(last_seq=5)

    report = audit_chain_verify(chain=str(tenant_a_id))

    assert report.broken_at == ChainBreak(2, None, BreakReason.HEAD_MISMATCH)


@pytest.mark.django_db
def test_a_chain_exists_with_a_head_or_with_events_only() -> None:
    chain_store(chain_build(1, chain="headless"), with_head=False)
    AuditChainHead.objects.create(chain="no-events-yet")

    assert [audit_chain_exists(chain=name) for name in ("headless", "no-events-yet", "nothing")] == [True, True, False]
    assert audit_chain_names() == ["headless", "no-events-yet"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("audit_events_removed_after")
def test_appends_committed_while_a_chain_streams_are_not_reported_as_breaks(tenant_a_id: uuid.UUID) -> None:
    chain_store(chain_build(3000, chain=str(tenant_a_id), tenant_id=tenant_a_id))
    writing = threading.Event()
    stop = threading.Event()
    failures: list[BaseException] = []

    def append_until_stopped() -> None:
        try:
            while not stop.is_set():
                audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_a_id)
                writing.set()
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            connection.close()

    writer = threading.Thread(target=append_until_stopped)
    writer.start()
    writing.wait(timeout=10)
    try:
        reports = [audit_chain_verify(chain=str(tenant_a_id)) for _ in range(VERIFY_RUNS)]
    finally:
        stop.set()
        writer.join()

    assert failures == []
    assert [report.broken_at for report in reports] == [None] * VERIFY_RUNS
    assert all(report.events > 3000 for report in reports)
