"""Property test (L1): one random tampering of a valid chain is reported at the exact event.

Rows reach the verifier in ``seq`` order, as the database streams them (``ORDER BY seq``), except for
``swap_positions``, which reorders the stream itself. With ``s`` the seq of the tampered event in the
original chain of ``n`` events, "the exact event" is:

- mutate (one field, not seq): the event itself, at ``s``: ``prev_hash_mismatch`` when the field is
  ``prev_hash``, else ``hash_mismatch``.
- renumber (seq set to ``v``): lowered (``v < s``) the event itself, at ``v``, ``unexpected_event``; raised
  (``v > s``) the hole it left, at ``s``, ``missing_event``.
- delete: the hole at ``s``: ``missing_event``; ``head_mismatch`` when it was the last event; when the
  attacker also renumbered the later events, the event now at ``s`` (it links to the deleted one),
  ``prev_hash_mismatch``.
- insert (a forged event with a fresh id, linked to its predecessor, hashed with no key, a wrong key or
  plain SHA-256): the forged event itself, at its seq: ``hash_mismatch``, or ``unexpected_event`` when it
  sits after a genuine event with the same seq or beyond an untouched head.
- swap_seq (two events exchange seq ``a < b``): the event now at ``a``, ``prev_hash_mismatch``.
- swap_positions (two rows exchange places in the stream): the seq ``a`` expected first, ``missing_event``.
- head_hash (the head's last hash rewritten): the last event, ``head_mismatch``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from audit.chain import canonical_bytes
from audit.models import OPERATOR_CHAIN, AuditAction
from audit.verify import BreakReason, ChainBreak, ChainHead, chain_verify
from tests.audit.factories import EventFields, chain_append, head_of

KINDS = ("mutate", "renumber", "delete", "insert", "swap_seq", "swap_positions", "head_hash")
MUTABLE_FIELDS = (
    "id", "chain", "tenant_id", "occurred_at", "action", "actor_id", "actor_label", "target_type", "target_id",
    "ip", "details", "prev_hash", "hash",
)  # fmt: skip

short_text = st.text(max_size=12)
hex_digests = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
detail_values = st.one_of(st.integers(-(2**53), 2**53), st.booleans(), st.none(), short_text)
event_contents = st.fixed_dictionaries(
    {
        "action": st.sampled_from([action.value for action in AuditAction]),
        "actor_id": st.none() | st.uuids(),
        "actor_label": short_text,
        "target_type": st.sampled_from(["", "user", "tenant", "api_key", "membership"]),
        "target_id": short_text,
        "ip": st.sampled_from(["", "192.0.2.10", "2001:db8::7"]),
        "details": st.dictionaries(st.text(max_size=6), detail_values, max_size=3),
    }
)


@dataclass(frozen=True)
class Tampering:
    kind: str
    rows: list[EventFields]
    head: ChainHead
    expected: ChainBreak


@st.composite
def valid_chains(draw: st.DrawFn) -> list[EventFields]:
    tenant_id = draw(st.none() | st.uuids(version=4))
    chain = str(tenant_id) if tenant_id else OPERATOR_CHAIN
    rows: list[EventFields] = []
    for content in draw(st.lists(event_contents, min_size=2, max_size=40)):
        rows.append(chain_append(rows, chain=chain, tenant_id=tenant_id, **content))
    return rows


@st.composite
def tamperings(draw: st.DrawFn) -> Tampering:
    rows = draw(valid_chains())
    kind = draw(st.sampled_from(KINDS))
    build = {
        "mutate": _mutate, "renumber": _renumber, "delete": _delete, "insert": _insert, "swap_seq": _swap_seq,
        "swap_positions": _swap_positions, "head_hash": _head_hash,
    }[kind]  # fmt: skip
    head, expected = build(draw, rows)
    return Tampering(kind=kind, rows=rows, head=head, expected=expected)


@settings(max_examples=1000, deadline=None)
@given(tamperings())
def test_one_tampering_is_reported_at_the_exact_event(case: Tampering) -> None:
    event(case.kind)

    report = chain_verify(chain="any", events=case.rows, head=case.head)

    assert report.broken_at == case.expected


@settings(max_examples=100, deadline=None)
@given(valid_chains())
def test_an_untouched_chain_is_intact(rows: list[EventFields]) -> None:
    report = chain_verify(chain="any", events=rows, head=head_of(rows))

    assert (report.broken_at, report.events) == (None, len(rows))


# Each builder tampers with ``rows`` in place and returns (head, expected break).


def _mutate(draw: st.DrawFn, rows: list[EventFields]) -> tuple[ChainHead, ChainBreak]:
    head = head_of(rows)
    index = draw(st.integers(0, len(rows) - 1))
    field = draw(st.sampled_from(MUTABLE_FIELDS))
    old = rows[index][field]
    rows[index][field] = draw(_other_values(field, old).filter(lambda value: value != old))
    reason = BreakReason.PREV_HASH_MISMATCH if field == "prev_hash" else BreakReason.HASH_MISMATCH
    return head, ChainBreak(index + 1, rows[index]["id"], reason)


def _other_values(field: str, old: Any) -> st.SearchStrategy[Any]:
    if field in {"id", "tenant_id", "actor_id"}:
        return st.uuids() if old is None or field == "id" else st.none() | st.uuids()
    if field == "occurred_at":
        shifts = st.integers(1, 10**9) | st.integers(-(10**9), -1)
        return shifts.map(lambda shift: old + timedelta(microseconds=shift))
    if field == "action":
        return st.sampled_from([action.value for action in AuditAction])
    if field == "details":
        return st.dictionaries(st.text(max_size=6), detail_values, max_size=3)
    if field in {"prev_hash", "hash"}:
        return hex_digests
    return short_text


def _renumber(draw: st.DrawFn, rows: list[EventFields]) -> tuple[ChainHead, ChainBreak]:
    head = head_of(rows)
    index = draw(st.integers(0, len(rows) - 1))
    seq = index + 1
    new_seq = draw(st.integers(-2, len(rows) + 3).filter(lambda value: value != seq))
    rows[index]["seq"] = new_seq
    moved_id = rows[index]["id"]
    rows.sort(key=lambda row: row["seq"])  # stable, like rows that share a seq in insertion order
    if new_seq < seq:
        return head, ChainBreak(new_seq, moved_id, BreakReason.UNEXPECTED_EVENT)
    return head, ChainBreak(seq, None, BreakReason.MISSING_EVENT)


def _delete(draw: st.DrawFn, rows: list[EventFields]) -> tuple[ChainHead, ChainBreak]:
    head = head_of(rows)
    index = draw(st.integers(0, len(rows) - 1))
    renumber_later = draw(st.booleans())
    del rows[index]
    seq = index + 1
    if seq == head.last_seq:
        return head, ChainBreak(seq, None, BreakReason.HEAD_MISMATCH)
    if not renumber_later:
        return head, ChainBreak(seq, None, BreakReason.MISSING_EVENT)
    for row in rows[index:]:
        row["seq"] -= 1
    return head, ChainBreak(seq, rows[index]["id"], BreakReason.PREV_HASH_MISMATCH)


def _insert(draw: st.DrawFn, rows: list[EventFields]) -> tuple[ChainHead, ChainBreak]:
    head = head_of(rows)
    position = draw(st.integers(0, len(rows)))
    mode = draw(st.sampled_from(["shift", "duplicate_before", "duplicate_after"])) if position < len(rows) else "append"
    forged = _forged_event(draw, rows, position)
    seq = forged["seq"]
    if mode in {"shift", "append"}:
        for row in rows[position:]:
            row["seq"] += 1
        rows.insert(position, forged)
    else:
        rows.insert(position if mode == "duplicate_before" else position + 1, forged)
    if mode == "duplicate_after" or (mode == "append" and not draw(st.booleans())):
        return head, ChainBreak(seq, forged["id"], BreakReason.UNEXPECTED_EVENT)
    if mode == "append":  # the attacker moved the head onto the forged event too
        head = ChainHead(last_seq=seq, last_hash=forged["hash"])
    return head, ChainBreak(seq, forged["id"], BreakReason.HASH_MISMATCH)


def _forged_event(draw: st.DrawFn, rows: list[EventFields], position: int) -> EventFields:
    """A plausible event linked to its predecessor, whose hash was computed without the real key."""
    genuine = chain_append(rows[:position], chain=rows[0]["chain"], tenant_id=rows[0]["tenant_id"],
                           id=draw(st.uuids()), **draw(event_contents))  # fmt: skip
    message = genuine["prev_hash"].encode() + b"\n" + canonical_bytes(genuine)
    forger = draw(st.sampled_from(["random", "wrong_key", "plain_sha256"]))
    if forger == "random":
        genuine["hash"] = draw(hex_digests)
    elif forger == "wrong_key":
        genuine["hash"] = hmac.new(secrets.token_bytes(32), message, hashlib.sha256).hexdigest()
    else:
        genuine["hash"] = hashlib.sha256(message).hexdigest()
    return genuine


def _swap_seq(draw: st.DrawFn, rows: list[EventFields]) -> tuple[ChainHead, ChainBreak]:
    head = head_of(rows)
    first, second = sorted(draw(st.lists(st.integers(0, len(rows) - 1), min_size=2, max_size=2, unique=True)))
    rows[first]["seq"], rows[second]["seq"] = rows[second]["seq"], rows[first]["seq"]
    moved_id = rows[second]["id"]
    rows.sort(key=lambda row: row["seq"])
    return head, ChainBreak(first + 1, moved_id, BreakReason.PREV_HASH_MISMATCH)


def _swap_positions(draw: st.DrawFn, rows: list[EventFields]) -> tuple[ChainHead, ChainBreak]:
    head = head_of(rows)
    first, second = sorted(draw(st.lists(st.integers(0, len(rows) - 1), min_size=2, max_size=2, unique=True)))
    rows[first], rows[second] = rows[second], rows[first]
    return head, ChainBreak(first + 1, None, BreakReason.MISSING_EVENT)


def _head_hash(draw: st.DrawFn, rows: list[EventFields]) -> tuple[ChainHead, ChainBreak]:
    head = ChainHead(last_seq=len(rows), last_hash=draw(hex_digests.filter(lambda value: value != rows[-1]["hash"])))
    return head, ChainBreak(len(rows), rows[-1]["id"], BreakReason.HEAD_MISMATCH)


def test_the_forged_hashes_differ_from_the_keyed_one() -> None:
    rows = [chain_append([], chain=OPERATOR_CHAIN, tenant_id=None, id=uuid.UUID(int=1))]
    message = rows[0]["prev_hash"].encode() + b"\n" + canonical_bytes(rows[0])

    assert hashlib.sha256(message).hexdigest() != rows[0]["hash"]
