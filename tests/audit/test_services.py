"""audit_record: seq 1..n linked by prev_hash, one chain per tenant, gapless under concurrent appends."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from audit.chain import event_hash
from audit.models import OPERATOR_CHAIN, AuditAction, AuditChainHead, AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_record
from audit.verify import ChainReport

THREADS = 6
APPENDS_PER_THREAD = 15


@pytest.mark.django_db
def test_audit_record_builds_a_linked_chain() -> None:
    for index in range(3):
        audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=None, actor_label=f"user-{index}", ip="192.0.2.1")

    events = list(AuditEvent.objects.filter(chain=OPERATOR_CHAIN).order_by("seq"))

    assert [event.seq for event in events] == [1, 2, 3]
    assert [event.prev_hash for event in events] == ["", events[0].hash, events[1].hash]
    assert [event.hash for event in events] == [event_hash(event.prev_hash, vars(event)) for event in events]
    head = AuditChainHead.objects.get(chain=OPERATOR_CHAIN)
    assert (head.last_seq, head.last_hash) == (3, events[2].hash)
    assert audit_chain_verify(chain=OPERATOR_CHAIN) == ChainReport(chain=OPERATOR_CHAIN, events=3)


@pytest.mark.django_db
def test_tenant_chains_are_independent_of_each_other_and_of_the_operator_chain(
    tenant_a_id: uuid.UUID, tenant_b_id: uuid.UUID
) -> None:
    audit_record(action=AuditAction.TENANT_CREATED, tenant_id=tenant_a_id)
    audit_record(action=AuditAction.LOGIN_SUCCEEDED, tenant_id=None)
    audit_record(action=AuditAction.MEMBERSHIP_CREATED, tenant_id=tenant_a_id)
    audit_record(action=AuditAction.TENANT_CREATED, tenant_id=tenant_b_id)

    rows = AuditEvent.objects.order_by("chain", "seq").values_list("chain", "seq", "tenant_id", "prev_hash")

    assert [(chain, seq, tenant_id) for chain, seq, tenant_id, _ in rows] == [
        (str(tenant_a_id), 1, tenant_a_id),
        (str(tenant_a_id), 2, tenant_a_id),
        (str(tenant_b_id), 1, tenant_b_id),
        (OPERATOR_CHAIN, 1, None),
    ]
    assert [prev_hash for _, seq, _, prev_hash in rows if seq == 1] == ["", "", ""]
    assert dict(AuditChainHead.objects.values_list("chain", "last_seq")) == {
        str(tenant_a_id): 2,
        str(tenant_b_id): 1,
        OPERATOR_CHAIN: 1,
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("audit_events_removed_after")
def test_concurrent_appends_get_every_seq_exactly_once(tenant_a_id: uuid.UUID) -> None:
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def append_many(worker: int) -> None:
        try:
            start.wait()
            for index in range(APPENDS_PER_THREAD):
                audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_a_id, actor_label=f"{worker}-{index}")
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=append_many, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    total = THREADS * APPENDS_PER_THREAD
    assert failures == []
    assert list(AuditEvent.objects.filter(chain=str(tenant_a_id)).order_by("seq").values_list("seq", flat=True)) == (
        list(range(1, total + 1))
    )
    assert AuditEvent.objects.values("actor_label").distinct().count() == total
    assert audit_chain_verify(chain=str(tenant_a_id)) == ChainReport(chain=str(tenant_a_id), events=total)
