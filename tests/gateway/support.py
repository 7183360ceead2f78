"""The production environment of deploy/production.env.example, for processes started by the tests."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from gateway.env import new_root_key_entry, new_signing_key
from gateway.management.commands.generate_secrets import SECRET_NAMES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "production.env.example"
# A valid secret for a variant that gives two settings the same value (gateway.E017).
SHARED_SECRET = secrets.token_urlsafe(64)


def production_env(tmp_path: Path, changes: dict[str, str | None] | None = None) -> dict[str, str]:
    """The documented example, with its secret files created for real, then ``changes`` (None unsets)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GATEWAY_", "DJANGO_"))}
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    for name in (*SECRET_NAMES, "GATEWAY_ROOT_KEYS"):
        secret_file = tmp_path / name.lower()
        secret_file.write_text(new_root_key_entry(1) if name == "GATEWAY_ROOT_KEYS" else secrets.token_urlsafe(64))
        env[f"{name}_FILE"] = str(secret_file)
    (tmp_path / "gateway_audit_signing_key").write_text(new_signing_key())
    env["GATEWAY_AUDIT_SIGNING_KEY_FILE"] = str(tmp_path / "gateway_audit_signing_key")
    env["GATEWAY_VAR_DIR"] = str(tmp_path / "var")
    for name, change in (changes or {}).items():
        if change is None:
            env.pop(name, None)
        else:
            env[name] = change
    return env


def run_python(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    """``python <arguments>`` in the project folder, to its end (a process that never ends fails the test)."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
