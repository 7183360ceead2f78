"""`manage.py audit verify`: one line per chain, progress on stderr, exit status 1 on a broken chain."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from audit.models import OPERATOR_CHAIN, AuditAction
from audit.services import audit_record
from tests.audit.factories import chain_build, chain_store
from tests.audit.support import tamper


def run_verify(*arguments: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("audit", "verify", *arguments, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


@pytest.mark.django_db
def test_clean_chains_print_one_line_each(tenant_a_id: uuid.UUID) -> None:
    audit_record(action=AuditAction.LOGIN_SUCCEEDED, tenant_id=None)
    audit_record(action=AuditAction.TENANT_CREATED, tenant_id=tenant_a_id)
    audit_record(action=AuditAction.MEMBERSHIP_CREATED, tenant_id=tenant_a_id)

    stdout, stderr = run_verify()

    assert stdout == f"chain {tenant_a_id}: 2 events OK\nchain operator: 1 events OK\n"
    assert stderr == ""


@pytest.mark.django_db
def test_a_tampered_row_is_named_and_the_command_fails(tenant_a_id: uuid.UUID, tenant_b_id: uuid.UUID) -> None:
    events = [audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_a_id) for _ in range(3)]
    audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_b_id)
    tamper("UPDATE audit_auditevent SET actor_label = %s WHERE id = %s", ["mallory", events[1].id])
    stdout = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("audit", "verify", stdout=stdout)

    assert stdout.getvalue() == (
        f"chain {tenant_a_id}: BROKEN at seq 2 (event {events[1].id}): hash_mismatch\n"
        f"chain {tenant_b_id}: 1 events OK\n"
    )
    assert (raised.value.returncode, str(raised.value)) == (1, "1 of 2 audit chains broken")


@pytest.mark.django_db
def test_a_missing_row_is_named_by_seq(tenant_a_id: uuid.UUID) -> None:
    events = [audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=tenant_a_id) for _ in range(3)]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].id])
    stdout = io.StringIO()

    with pytest.raises(CommandError):
        call_command("audit", "verify", stdout=stdout)

    assert stdout.getvalue() == f"chain {tenant_a_id}: BROKEN at seq 2 (no event row): missing_event\n"


@pytest.mark.django_db
def test_one_chain_can_be_chosen_by_tenant_uuid_or_operator(tenant_a_id: uuid.UUID) -> None:
    audit_record(action=AuditAction.LOGIN_SUCCEEDED, tenant_id=None)
    audit_record(action=AuditAction.TENANT_CREATED, tenant_id=tenant_a_id)

    assert run_verify("--chain", str(tenant_a_id).upper()) == (f"chain {tenant_a_id}: 1 events OK\n", "")
    assert run_verify("--chain", OPERATOR_CHAIN) == ("chain operator: 1 events OK\n", "")


@pytest.mark.django_db
def test_an_unknown_chain_is_an_error_of_its_own(tenant_a_id: uuid.UUID) -> None:
    with pytest.raises(CommandError) as raised:
        run_verify("--chain", str(tenant_a_id))

    assert (raised.value.returncode, str(raised.value)) == (2, f"no audit chain '{tenant_a_id}'")


@pytest.mark.django_db
def test_a_chain_name_must_be_a_uuid_or_operator() -> None:
    with pytest.raises(CommandError, match="expected a tenant uuid or 'operator', got 'tenant-a'"):
        run_verify("--chain", "tenant-a")


@pytest.mark.django_db
def test_no_chains_yet_is_said_and_is_not_a_failure() -> None:
    assert run_verify() == ("no audit chains yet\n", "")


@pytest.mark.django_db
def test_long_chains_report_progress_on_stderr() -> None:
    chain_store(chain_build(10_001))

    assert run_verify() == ("chain operator: 10001 events OK\n", "chain operator: 10000 events checked\n")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("audit_events_removed_after")
def test_the_exit_status_is_0_when_clean_and_1_when_broken(capsys: pytest.CaptureFixture[str]) -> None:
    events = [audit_record(action=AuditAction.LOGIN_FAILED, tenant_id=None) for _ in range(2)]

    execute_from_command_line(["manage.py", "audit", "verify"])
    assert capsys.readouterr().out == "chain operator: 2 events OK\n"

    tamper("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"count": 2}', events[0].id])
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "audit", "verify"])

    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == f"chain operator: BROKEN at seq 1 (event {events[0].id}): hash_mismatch\n"
    assert captured.err == "CommandError: 1 of 1 audit chains broken\n"


def test_help_lists_the_verify_subcommand_and_its_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as top:
        execute_from_command_line(["manage.py", "audit", "--help"])
    top_help = capsys.readouterr()
    with pytest.raises(SystemExit) as verify:
        execute_from_command_line(["manage.py", "audit", "verify", "--help"])
    verify_help = capsys.readouterr()

    assert (top.value.code, verify.value.code) == (0, 0)
    assert "subcommand verify recompute the hash chains and compare them with their heads" in _words(top_help.out)
    assert "usage: manage.py audit verify [-h] [--chain CHAIN]" in _words(verify_help.out)
    assert "--chain CHAIN a tenant uuid or 'operator' (default: every chain)" in _words(verify_help.out)
    assert (top_help.err, verify_help.err) == ("", "")


def _words(text: str) -> str:
    """Help text with argparse's line wrapping undone (it depends on the terminal width)."""
    return " ".join(text.split())
