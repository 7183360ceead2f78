"""Signed checkpoints: written once outside the database, checked with the public key alone, chained."""

from __future__ import annotations

import base64
import io
import json
import uuid
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import call_command

from audit.checkpoints.documents import CheckpointInvalidError, canonical_json, document_parse
from audit.checkpoints.files import CheckpointFileExistsError, checkpoint_file_write, checkpoint_path
from audit.checkpoints.models import AuditCheckpoint
from audit.checkpoints.selectors import checkpoint_public_key
from audit.checkpoints.services import CheckpointRefusedError, checkpoint_write, checkpoints_write_advanced
from audit.models import AuditAction, AuditEvent
from audit.services import audit_record
from gateway.env import new_signing_key
from tests.audit.support import tamper

pytestmark = pytest.mark.django_db


def record(tenant_id: uuid.UUID | None, count: int) -> list[AuditEvent]:
    return [
        audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_id, actor_label="alice") for _ in range(count)
    ]


def printed_public_key() -> str:
    out = io.StringIO()
    call_command("audit", "checkpoint-key", stdout=out)
    return out.getvalue().splitlines()[0]


def raw_public_key(text: str) -> Ed25519PublicKey:
    encoded = text.removeprefix("ed25519:")
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def test_a_checkpoint_is_exported_to_a_file_and_recorded(tenant_a_id: uuid.UUID, checkpoint_dir: Path) -> None:
    events = record(tenant_a_id, 3)

    row = checkpoint_write(chain=str(tenant_a_id), seq=3)

    path = checkpoint_dir / str(tenant_a_id) / "0000000001.json"
    document = json.loads(path.read_bytes())["checkpoint"]
    assert document == {
        "chain": str(tenant_a_id),
        "number": 1,
        "seq": 3,
        "event_hash": events[2].hash,
        "event_occurred_at": events[2].occurred_at.isoformat(),
        "count": 3,
        "created_at": row.created_at.isoformat(),
        "previous_digest": "",
        "key_id": row.key_id,
        "version": 1,
    }
    assert (row.chain, row.number, row.seq, row.event_hash, row.count) == (str(tenant_a_id), 1, 3, events[2].hash, 3)
    assert row.digest == document_parse(path.read_bytes(), public_keys=[checkpoint_public_key()]).digest


def test_the_signature_verifies_with_the_printed_public_key_alone(tenant_a_id: uuid.UUID) -> None:
    record(tenant_a_id, 2)
    row = checkpoint_write(chain=str(tenant_a_id), seq=2)
    document = json.loads(checkpoint_path(chain=row.chain, number=row.number).read_bytes())
    signature = base64.urlsafe_b64decode(document["signature"] + "=" * (-len(document["signature"]) % 4))

    raw_public_key(printed_public_key()).verify(signature, canonical_json(document["checkpoint"]))

    forged = {**document["checkpoint"], "seq": 1}
    with pytest.raises(InvalidSignature):
        raw_public_key(printed_public_key()).verify(signature, canonical_json(forged))


def test_changing_any_byte_of_the_file_fails(tenant_a_id: uuid.UUID) -> None:
    record(tenant_a_id, 1)
    row = checkpoint_write(chain=str(tenant_a_id), seq=1)
    data = checkpoint_path(chain=row.chain, number=row.number).read_bytes()
    public_key = checkpoint_public_key()

    for index in range(len(data)):
        changed = data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]
        with pytest.raises(CheckpointInvalidError):
            document_parse(changed, public_keys=[public_key])
    assert document_parse(data, public_keys=[public_key]).seq == 1


def test_another_key_does_not_verify_the_file(tenant_a_id: uuid.UUID, settings) -> None:
    record(tenant_a_id, 1)
    row = checkpoint_write(chain=str(tenant_a_id), seq=1)
    data = checkpoint_path(chain=row.chain, number=row.number).read_bytes()
    settings.GATEWAY_AUDIT_SIGNING_KEY = new_signing_key()

    with pytest.raises(CheckpointInvalidError, match="not by a key given"):
        document_parse(data, public_keys=[checkpoint_public_key()])


def test_a_file_name_is_never_reused(tenant_a_id: uuid.UUID, tmp_path: Path) -> None:
    path = tmp_path / "0000000001.json"
    checkpoint_file_write(path, b"first\n")

    with pytest.raises(CheckpointFileExistsError, match="never overwritten"):
        checkpoint_file_write(path, b"second\n")

    assert path.read_bytes() == b"first\n"


def test_a_checkpoint_whose_file_name_is_taken_is_not_recorded(tenant_a_id: uuid.UUID) -> None:
    record(tenant_a_id, 2)
    taken = checkpoint_path(chain=str(tenant_a_id), number=1)
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"someone else's\n")

    with pytest.raises(CheckpointFileExistsError):
        checkpoint_write(chain=str(tenant_a_id), seq=2)

    assert AuditCheckpoint.objects.count() == 0
    assert taken.read_bytes() == b"someone else's\n"


def test_checkpoints_chain_by_the_previous_digest(tenant_a_id: uuid.UUID) -> None:
    record(tenant_a_id, 2)
    first = checkpoint_write(chain=str(tenant_a_id), seq=2)
    record(tenant_a_id, 3)

    second = checkpoint_write(chain=str(tenant_a_id), seq=5)

    parsed = document_parse(
        checkpoint_path(chain=second.chain, number=2).read_bytes(), public_keys=[checkpoint_public_key()]
    )
    assert (second.number, second.count, second.previous_digest) == (2, 3, first.digest)
    assert parsed.previous_digest == first.digest


def test_a_chain_that_does_not_verify_is_not_signed(tenant_a_id: uuid.UUID, checkpoint_dir: Path) -> None:
    events = record(tenant_a_id, 3)
    tamper("UPDATE audit_auditevent SET actor_label = %s WHERE id = %s", ["mallory", events[1].id])

    with pytest.raises(CheckpointRefusedError, match="seq 2: hash_mismatch"):
        checkpoint_write(chain=str(tenant_a_id), seq=3)

    assert AuditCheckpoint.objects.count() == 0
    assert not checkpoint_dir.exists()


def test_the_hourly_job_checkpoints_each_chain_that_advanced(tenant_a_id: uuid.UUID, tenant_b_id: uuid.UUID) -> None:
    record(tenant_a_id, 2)
    record(None, 1)

    first = checkpoints_write_advanced()
    unchanged = checkpoints_write_advanced()
    record(tenant_a_id, 1)
    record(tenant_b_id, 1)
    advanced = checkpoints_write_advanced()

    assert (first, unchanged, advanced) == (
        {"written": 2, "refused": 0},
        {"written": 0, "refused": 0},
        {"written": 2, "refused": 0},
    )
    rows = AuditCheckpoint.objects.order_by("chain", "number").values_list("chain", "number", "seq")
    assert list(rows) == [
        (str(tenant_a_id), 1, 2),
        (str(tenant_a_id), 2, 3),
        (str(tenant_b_id), 1, 1),
        ("operator", 1, 1),
    ]


def test_the_hourly_job_skips_a_broken_chain_and_goes_on(tenant_a_id: uuid.UUID, tenant_b_id: uuid.UUID) -> None:
    events = record(tenant_a_id, 2)
    record(tenant_b_id, 1)
    tamper("UPDATE audit_auditevent SET actor_label = %s WHERE id = %s", ["mallory", events[0].id])

    assert checkpoints_write_advanced() == {"written": 1, "refused": 1}
    assert list(AuditCheckpoint.objects.values_list("chain", flat=True)) == [str(tenant_b_id)]


def test_a_signature_spelled_another_way_fails(tenant_a_id: uuid.UUID) -> None:
    record(tenant_a_id, 1)
    row = checkpoint_write(chain=str(tenant_a_id), seq=1)
    data = checkpoint_path(chain=row.chain, number=row.number).read_bytes()
    document = json.loads(data)
    signature = document["signature"]
    # The last of 86 characters carries 2 bits of the signature and 4 spare ones; a decoder ignores the spare ones.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(signature[-1])
    respelled = signature[:-1] + alphabet[index ^ 0b0001]
    changed = data.replace(signature.encode(), respelled.encode())

    with pytest.raises(CheckpointInvalidError, match="bad signature"):
        document_parse(changed, public_keys=[checkpoint_public_key()])


def test_a_file_left_by_a_failed_transaction_is_adopted_and_the_next_follows_it(tenant_a_id: uuid.UUID) -> None:
    record(tenant_a_id, 2)
    lost = checkpoint_write(chain=str(tenant_a_id), seq=2)
    AuditCheckpoint.objects.all().delete()  # the row's transaction did not commit; the file stays
    record(tenant_a_id, 1)

    latest = checkpoint_write(chain=str(tenant_a_id), seq=3)

    rows = AuditCheckpoint.objects.order_by("number").values_list("number", "seq", "digest", "previous_digest")
    assert list(rows) == [(1, 2, lost.digest, ""), (2, 3, latest.digest, lost.digest)]
    assert latest.count == 3  # verified from the start: the stray had no row yet when verification ran
