"""An attacker with write access to the database: swapped, flipped and planted values all fail closed."""

from __future__ import annotations

import base64
import random
from collections import Counter
from collections.abc import Callable

import pytest

from accounts.models import Tenant
from encryption.envelope import HEADER_BYTES, TAG_BYTES, key_id_of
from encryption.errors import DecryptionError
from encryption.fields import Sealed
from tests.encryption.support import decrypt_failures, fresh, note_create, notes, plant, read, stored
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db

SOURCE_PLAINTEXT = "alpha secret"
FIELD_LABEL = "testapp.Note.{field} of row {row} cannot be opened: "


def _copy(method: str, target: Note, field: str, sealed: Sealed) -> None:
    if method == "update":
        assert notes().filter(pk=target.pk).update(**{field: sealed}) == 1
    else:
        plant(target, field, bytes(sealed))


def _assert_reveals_nothing(message: str, sealed: bytes, *plaintexts: str) -> None:
    for plaintext in plaintexts:
        assert plaintext not in message
    for form in (sealed.hex(), repr(sealed), base64.b64encode(sealed).decode(), sealed.decode("latin-1")):
        assert form not in message


@pytest.mark.parametrize("method", ["update", "sql"])
@pytest.mark.parametrize(
    ("target_name", "field", "reason"),
    [
        ("other_note_a", "body", "authentication failed: the value was altered or belongs elsewhere"),
        ("note_a", "payload", "authentication failed: the value was altered or belongs elsewhere"),
        ("note_a", "summary", "authentication failed: the value was altered or belongs elsewhere"),
        ("note_b", "body", "key {key_id} belongs to another owner"),
    ],
    ids=["other-row", "other-column-same-key", "other-column-other-key", "other-tenant"],
)
def test_a_ciphertext_copied_elsewhere_never_opens(
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    note_a: Note,
    method: str,
    target_name: str,
    field: str,
    reason: str,
) -> None:
    target: Note = request.getfixturevalue(target_name)
    sealed = notes().values_list("body", flat=True).get(pk=note_a.pk)
    before = decrypt_failures()

    _copy(method, target, field, sealed)

    assert stored(target, field) == bytes(sealed)
    for instance in (fresh(target), fresh(target)):
        for _attempt in range(2):  # every time: a failure is never cached as a success
            with pytest.raises(DecryptionError) as raised:
                read(instance, field)
            message = str(raised.value)
            expected = FIELD_LABEL.format(field=field, row=target.pk) + reason.format(key_id=key_id_of(sealed))
            assert message == expected
            _assert_reveals_nothing(message, bytes(sealed), SOURCE_PLAINTEXT)
    assert decrypt_failures() - before == 4
    _assert_reveals_nothing(caplog.text, bytes(sealed), SOURCE_PLAINTEXT)
    assert read(fresh(note_a), "body") == SOURCE_PLAINTEXT  # the copied bytes were a good envelope


def _flip_plan(lengths: list[int], seed: int) -> list[tuple[str, int]]:
    """One bit per row, a quarter of the rows in each part of the envelope: (part, bit index)."""
    chooser = random.Random(seed)
    plan = []
    for row, length in enumerate(lengths):
        parts = {
            "header": (0, 5),
            "nonce": (5, HEADER_BYTES),
            "ciphertext": (HEADER_BYTES, length - TAG_BYTES),
            "tag": (length - TAG_BYTES, length),
        }
        part = ("header", "nonce", "ciphertext", "tag")[row % 4]
        start, end = parts[part]
        plan.append((part, chooser.randrange(start * 8, end * 8)))
    return plan


def test_one_flipped_bit_in_any_of_100_values_is_a_clean_failure(
    tenant_a: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    plaintexts = [f"message {number} for the bit flip test" for number in range(100)]
    rows = [note_create(tenant_id=tenant_a.id, body=plaintext) for plaintext in plaintexts]
    originals = [stored(row, "body") or b"" for row in rows]
    plan = _flip_plan([len(original) for original in originals], seed=20261128)
    for row, original, (_part, bit) in zip(rows, originals, plan, strict=True):
        flipped = bytearray(original)
        flipped[bit // 8] ^= 1 << (bit % 8)
        plant(row, "body", bytes(flipped))
    before = decrypt_failures()

    failures = 0
    for row, plaintext in zip(rows, plaintexts, strict=True):
        with pytest.raises(DecryptionError) as raised:
            read(fresh(row), "body")
        assert str(raised.value).startswith(FIELD_LABEL.format(field="body", row=row.pk))
        assert plaintext not in str(raised.value)
        failures += 1

    assert failures == 100
    assert Counter(part for part, _bit in plan) == {"header": 25, "nonce": 25, "ciphertext": 25, "tag": 25}
    assert decrypt_failures() - before == 100
    assert not any(plaintext in caplog.text for plaintext in plaintexts)


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (lambda sealed: b"plaintext planted where ciphertext belongs", "stored value is not an envelope v1"),
        (lambda sealed: b"", "stored value is not an envelope v1"),
        (lambda sealed: sealed[:HEADER_BYTES], "stored value is not an envelope v1"),
        (lambda sealed: sealed[:-1], "authentication failed"),
        (lambda sealed: b"\x02" + sealed[1:], "stored value is not an envelope v1"),
        (lambda sealed: b"\x00" + sealed[1:], "stored value is not an envelope v1"),
        (lambda sealed: b"\x01" + sealed[1:5] + b"A" * 40, "authentication failed"),
    ],
    ids=["plaintext", "empty", "truncated-to-header", "one-byte-short", "version-2", "version-0", "forged-body"],
)
def test_planted_values_raise_and_count(note_a: Note, forge: Callable[[bytes], bytes], reason: str) -> None:
    original = stored(note_a, "body") or b""
    planted = forge(original)
    plant(note_a, "body", planted)
    before = decrypt_failures()

    with pytest.raises(DecryptionError) as raised:
        read(fresh(note_a), "body")

    assert str(raised.value).startswith(FIELD_LABEL.format(field="body", row=note_a.pk) + reason)
    assert SOURCE_PLAINTEXT not in str(raised.value)
    assert decrypt_failures() - before == 1
    assert stored(note_a, "body") == planted  # reading never rewrites the column


def test_a_failed_value_does_not_spoil_the_rest_of_the_row(note_a: Note) -> None:
    plant(note_a, "body", b"planted")
    loaded = fresh(note_a)

    with pytest.raises(DecryptionError):
        read(loaded, "body")

    assert read(loaded, "payload") == {"text": "alpha payload"}
    assert read(loaded, "summary") == "alpha subject"
    assert read(loaded, "title") == "a"
