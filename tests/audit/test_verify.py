"""The pure verifier on hand-made chains: one example per kind of break, no database."""

from __future__ import annotations

import hashlib
import uuid

from audit.chain import canonical_bytes
from audit.models import AuditChainHead, AuditEvent
from audit.verify import PROGRESS_EVERY, BreakReason, ChainBreak, ChainHead, ChainReport, chain_verify
from tests.audit.factories import chain_build, head_of


def test_an_intact_chain_reports_every_event() -> None:
    rows = chain_build(5)

    report = chain_verify(chain="operator", events=rows, head=head_of(rows))

    assert report == ChainReport(chain="operator", events=5, broken_at=None)
    assert report.is_intact is True


def test_an_empty_chain_without_a_head_is_intact() -> None:
    assert chain_verify(chain="operator", events=[], head=None) == ChainReport(chain="operator", events=0)


def test_model_instances_and_a_head_row_are_accepted() -> None:
    rows = chain_build(3)
    head = AuditChainHead(chain="operator", last_seq=3, last_hash=rows[-1]["hash"])

    report = chain_verify(chain="operator", events=[AuditEvent(**row) for row in rows], head=head)

    assert report == ChainReport(chain="operator", events=3)


def test_a_changed_field_is_a_hash_mismatch_at_that_event() -> None:
    rows = chain_build(4)
    rows[2]["actor_label"] = "someone else"

    report = chain_verify(chain="operator", events=rows, head=head_of(rows))

    assert report.broken_at == ChainBreak(3, rows[2]["id"], BreakReason.HASH_MISMATCH)
    assert report.events == 3


def test_a_relinked_event_is_a_prev_hash_mismatch() -> None:
    rows = chain_build(3)
    rows[1]["prev_hash"] = "0" * 64

    report = chain_verify(chain="operator", events=rows, head=head_of(rows))

    assert report.broken_at == ChainBreak(2, rows[1]["id"], BreakReason.PREV_HASH_MISMATCH)


def test_a_gap_names_the_missing_seq_and_no_row() -> None:
    rows = chain_build(5)
    head = head_of(rows)
    del rows[1:3]

    report = chain_verify(chain="operator", events=rows, head=head)

    assert report.broken_at == ChainBreak(2, None, BreakReason.MISSING_EVENT)


def test_a_truncated_tail_is_a_head_mismatch_at_the_first_missing_seq() -> None:
    rows = chain_build(5)
    head = head_of(rows)

    report = chain_verify(chain="operator", events=rows[:3], head=head)

    assert report == ChainReport(chain="operator", events=3, broken_at=ChainBreak(4, None, BreakReason.HEAD_MISMATCH))


def test_a_head_with_another_last_hash_is_a_head_mismatch_at_the_last_event() -> None:
    rows = chain_build(3)

    report = chain_verify(chain="operator", events=rows, head=ChainHead(last_seq=3, last_hash="f" * 64))

    assert report.broken_at == ChainBreak(3, rows[2]["id"], BreakReason.HEAD_MISMATCH)


def test_an_empty_chain_whose_head_has_a_hash_is_a_head_mismatch_at_seq_zero() -> None:
    report = chain_verify(chain="operator", events=[], head=ChainHead(last_seq=0, last_hash="f" * 64))

    assert report.broken_at == ChainBreak(0, None, BreakReason.HEAD_MISMATCH)


def test_a_valid_event_beyond_the_head_is_unexpected() -> None:
    rows = chain_build(4)

    report = chain_verify(chain="operator", events=rows, head=head_of(rows[:3]))

    assert report.broken_at == ChainBreak(4, rows[3]["id"], BreakReason.UNEXPECTED_EVENT)


def test_events_without_a_head_are_unexpected_from_the_first() -> None:
    rows = chain_build(2)

    report = chain_verify(chain="operator", events=rows, head=None)

    assert report.broken_at == ChainBreak(1, rows[0]["id"], BreakReason.UNEXPECTED_EVENT)


def test_a_duplicate_seq_is_unexpected_at_the_second_row() -> None:
    rows = chain_build(3)
    copy = {**rows[1], "id": uuid.UUID(int=7)}

    report = chain_verify(chain="operator", events=[rows[0], rows[1], copy, rows[2]], head=head_of(rows))

    assert report.broken_at == ChainBreak(2, uuid.UUID(int=7), BreakReason.UNEXPECTED_EVENT)


def test_a_forged_event_hashed_without_the_key_is_caught_at_itself() -> None:
    rows = chain_build(3)
    forged = {**rows[1], "id": uuid.UUID(int=9), "actor_label": "mallory"}
    forged["hash"] = hashlib.sha256(forged["prev_hash"].encode() + b"\n" + canonical_bytes(forged)).hexdigest()

    report = chain_verify(chain="operator", events=[rows[0], forged], head=head_of([rows[0], forged]))

    assert report.broken_at == ChainBreak(2, uuid.UUID(int=9), BreakReason.HASH_MISMATCH)


def test_a_stored_hash_with_non_ascii_text_is_a_mismatch_not_a_crash() -> None:
    rows = chain_build(1)
    rows[0]["hash"] = "é" * 64

    report = chain_verify(chain="operator", events=rows, head=ChainHead(1, "é" * 64))

    assert report.broken_at == ChainBreak(1, rows[0]["id"], BreakReason.HASH_MISMATCH)


def test_progress_is_reported_every_ten_thousand_events() -> None:
    rows = chain_build(2 * PROGRESS_EVERY + 1)
    calls: list[int] = []

    report = chain_verify(chain="operator", events=rows, head=head_of(rows), progress=calls.append)

    assert calls == [10_000, 20_000]
    assert report == ChainReport(chain="operator", events=20_001)
