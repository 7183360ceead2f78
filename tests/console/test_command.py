"""``manage.py report transparency`` and ``manage.py report verify``: files written, progress on stderr, the
digest on stdout, and clear errors (no traceback) for a bad tenant, period or copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Tenant
from audit.models import AuditAction, AuditEvent
from tests.conftest import ROOT, subprocess_database_url
from tests.console.seed import NOVEMBER, Seeded

pytestmark = pytest.mark.django_db(transaction=False)


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("report", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _issue(tenant: str, output: Path, *extra: str) -> tuple[str, str]:
    return _run("transparency", "--tenant", tenant, "--output", str(output), *extra)


def test_json_report_by_slug_written_and_verified(seeded_a: Seeded, tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    out, err = _issue("tenant-a", output, "--period", NOVEMBER, "--format", "json")
    digest = out.strip()
    assert json.loads(output.read_bytes())["digest"] == digest
    assert "computing the figures of tenant-a for 2026-11" in err and "wrote" in err
    verified, _ = _run("verify", "--file", str(output))
    assert f"digest {digest}" in verified
    assert "figures match the digest" in verified and "audit chain intact" in verified
    assert f"for period {NOVEMBER}" in verified


def test_pdf_report_by_id_for_a_quarter(seeded_a: Seeded, tmp_path: Path) -> None:
    output = tmp_path / "report.pdf"
    out, _ = _issue(str(seeded_a.tenant.pk), output, "--period", "2026-Q4")
    assert output.read_bytes().startswith(b"%PDF")
    assert out.strip().encode() in output.read_bytes()
    event = AuditEvent.objects.get(action=AuditAction.REPORT_ISSUED)
    assert (event.details["period"], event.actor_label) == ("2026-Q4", "cli")
    verified, _ = _run("verify", "--digest", out.strip().upper())
    assert "audit chain intact" in verified


def test_from_to_dates(seeded_a: Seeded, tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    _issue("tenant-a", output, "--from", "2026-11-03", "--to", "2026-11-04", "--format", "json")
    figures = json.loads(output.read_bytes())["figures"]
    assert (figures["period_start"], figures["period_end"]) == (
        "2026-11-03T00:00:00+00:00",
        "2026-11-05T00:00:00+00:00",
    )
    assert figures["subjects"]["exports_requested"] == 2  # e1 on the 3rd, e2 on the 4th


def test_a_tampered_copy_fails_verification(seeded_a: Seeded, tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    _issue("tenant-a", output, "--period", NOVEMBER, "--format", "json")
    copy = json.loads(output.read_bytes())
    copy["figures"]["reveals"] = []
    output.write_text(json.dumps(copy))
    with pytest.raises(CommandError, match="NOT verified") as raised:
        _run("verify", "--file", str(output))
    assert raised.value.returncode == 1


def test_an_unknown_digest_fails_verification(db: None) -> None:
    with pytest.raises(CommandError, match="NOT verified"):
        _run("verify", "--digest", "a" * 64)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tenant", "nobody", "--period", NOVEMBER), "no tenant with slug or id 'nobody'"),
        (("--tenant", "tenant-a", "--period", "2026-13"), "no month 13"),
        (("--tenant", "tenant-a", "--period", "November"), "is not a period"),
        (("--tenant", "tenant-a", "--period", NOVEMBER, "--from", "2026-11-01"), "not both"),
        (("--tenant", "tenant-a", "--from", "2026-11-05", "--to", "2026-11-01"), "ends before it starts"),
        (("--tenant", "tenant-a", "--from", "2026-11-05"), "give a period"),
        (("--tenant", "tenant-a", "--from", "5/11/2026", "--to", "2026-11-06"), "YYYY-MM-DD"),
    ],
)
def test_bad_tenant_or_period_is_a_clear_error(
    tenant_a: Tenant, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    output = tmp_path / "report.pdf"
    with pytest.raises(CommandError, match=message):
        _run("transparency", *args, "--output", str(output))
    assert not output.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.REPORT_ISSUED).exists()


def test_a_file_that_is_not_a_copy_is_a_clear_error(db: None, tmp_path: Path) -> None:
    output = tmp_path / "other.json"
    output.write_text('{"hello": 1}')
    with pytest.raises(CommandError, match="holds a digest and the figures"):
        _run("verify", "--file", str(output))
    with pytest.raises(CommandError, match="cannot read"):
        _run("verify", "--file", str(tmp_path / "missing.json"))


@pytest.mark.django_db(transaction=True)
def test_the_command_line_shows_one_error_line_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": subprocess_database_url(), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    output = tmp_path / "report.pdf"
    command = [sys.executable, "manage.py", "report", "transparency", "--tenant", "nobody", "--period", NOVEMBER]
    finished = subprocess.run(
        [*command, "--output", str(output)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert finished.returncode == 1
    assert "CommandError: no tenant with slug or id 'nobody'" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert not output.exists()
