"""`manage.py audit checkpoint`, `checkpoint-key` and `verify-checkpoints --dir` (no database needed for the last)."""

from __future__ import annotations

import io
import os
import shutil
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.checkpoints.files import checkpoint_path
from audit.checkpoints.models import AuditCheckpoint
from audit.checkpoints.services import checkpoints_write_advanced
from audit.models import AuditAction
from audit.services import audit_record
from encryption.signing import Ed25519CheckpointSigner
from gateway.env import new_signing_key
from tests.gateway.support import run_python


def record(tenant_id: uuid.UUID | None, count: int) -> None:
    for _ in range(count):
        audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_id)


def run(*arguments: str) -> str:
    out = io.StringIO()
    call_command("audit", *arguments, stdout=out)
    return out.getvalue()


def public_key() -> str:
    return run("checkpoint-key").splitlines()[0]


@pytest.fixture
def exported(db: None, tenant_a_id: uuid.UUID) -> None:
    """Two checkpoints of tenant A's chain and one of the operator chain."""
    record(tenant_a_id, 2)
    record(None, 1)
    checkpoints_write_advanced()
    record(tenant_a_id, 1)
    checkpoints_write_advanced()


@pytest.mark.django_db
def test_checkpoint_writes_one_per_chain_that_advanced(tenant_a_id: uuid.UUID) -> None:
    record(tenant_a_id, 2)
    record(None, 1)

    assert run("checkpoint") == "2 checkpoints written, 0 chains refused\n"
    assert run("checkpoint") == "0 checkpoints written, 0 chains refused\n"
    assert AuditCheckpoint.objects.count() == 2


@pytest.mark.django_db
def test_checkpoint_key_prints_the_public_key_and_its_id() -> None:
    signer = Ed25519CheckpointSigner()

    assert run("checkpoint-key") == f"{signer.public_key}\nkey id {signer.key_id}\n"
    assert signer.public_key.startswith("ed25519:")


def test_the_exported_folder_verifies_with_the_public_key_alone(
    exported: None, tenant_a_id: uuid.UUID, checkpoint_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(checkpoint_dir, copy)

    output = run("verify-checkpoints", "--dir", str(copy), "--public-key", public_key())

    assert output == (
        f"chain {tenant_a_id}: 2 checkpoints OK, up to seq 3\nchain operator: 1 checkpoints OK, up to seq 1\n"
    )


def test_a_removed_checkpoint_file_breaks_its_chain(
    exported: None, tenant_a_id: uuid.UUID, checkpoint_dir: Path
) -> None:
    checkpoint_path(chain=str(tenant_a_id), number=1).unlink()
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 of 2 checkpoint chains broken") as raised:
        call_command("audit", "verify-checkpoints", "--dir", str(checkpoint_dir), stdout=out)

    assert raised.value.returncode == 1
    assert out.getvalue().splitlines()[0] == (
        f"chain {tenant_a_id}: BROKEN after 0 checkpoints: {tenant_a_id}/0000000002.json: checkpoint 1 is missing"
    )


def test_a_changed_checkpoint_file_is_named(exported: None, tenant_a_id: uuid.UUID, checkpoint_dir: Path) -> None:
    path = checkpoint_path(chain=str(tenant_a_id), number=2)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b'"count":1', b'"count":9'))
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("audit", "verify-checkpoints", "--dir", str(checkpoint_dir), stdout=out)

    assert out.getvalue().splitlines()[0] == (
        f"chain {tenant_a_id}: BROKEN after 1 checkpoints: {tenant_a_id}/0000000002.json: bad signature"
    )


def test_a_checkpoint_replaced_by_a_validly_signed_one_of_another_chain_breaks_the_link(
    exported: None, tenant_a_id: uuid.UUID, checkpoint_dir: Path
) -> None:
    first = checkpoint_path(chain=str(tenant_a_id), number=1)
    first.chmod(0o644)
    os.remove(first)
    shutil.copyfile(checkpoint_path(chain="operator", number=1), first)
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("audit", "verify-checkpoints", "--dir", str(checkpoint_dir), stdout=out)

    assert out.getvalue().splitlines()[0] == (
        f"chain {tenant_a_id}: BROKEN after 0 checkpoints: {tenant_a_id}/0000000001.json: names chain operator "
        "checkpoint 1"
    )


def test_another_public_key_is_refused(exported: None, checkpoint_dir: Path, settings) -> None:
    ours = public_key()
    settings.GATEWAY_AUDIT_SIGNING_KEY = new_signing_key()
    other = public_key()
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("audit", "verify-checkpoints", "--dir", str(checkpoint_dir), "--public-key", other, stdout=out)

    assert "not by a key given" in out.getvalue()
    assert run("verify-checkpoints", "--dir", str(checkpoint_dir), "--public-key", ours).count("OK") == 2


def test_a_malformed_public_key_or_folder_exits_2(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--public-key: a public key starts with") as raised:
        call_command("audit", "verify-checkpoints", "--dir", str(tmp_path), "--public-key", "abc")
    assert raised.value.returncode == 2
    with pytest.raises(CommandError, match="is not a folder") as raised:
        call_command("audit", "verify-checkpoints", "--dir", str(tmp_path / "absent"), "--public-key", "abc")
    assert raised.value.returncode == 2


def test_help_names_the_checkpoint_subcommands_and_the_offline_options() -> None:
    general = run_python(dict(os.environ), "manage.py", "audit", "--help")
    offline = run_python(dict(os.environ), "manage.py", "audit", "verify-checkpoints", "--help")

    assert general.returncode == 0, general.stderr
    for name in ("verify", "checkpoint", "checkpoint-key", "verify-checkpoints"):
        assert name in general.stdout
    assert "--dir" in offline.stdout
    assert "--public-key" in offline.stdout
    assert "with the public key alone (no database)" in " ".join(general.stdout.split())
    assert "each naming its predecessor's digest" in " ".join(offline.stdout.split())
