from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from encryption.providers import parse_root_keys
from gateway import checks
from gateway.env import env_bool, env_int, env_str
from gateway.env import new_root_key_entry as new_root_key
from gateway.management.commands.generate_secrets import SECRET_NAMES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "production.env.example"


def production_env(tmp_path: Path) -> dict[str, str]:
    """The documented example, with its secret files created for real."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GATEWAY_", "DJANGO_"))}
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    for name in (*SECRET_NAMES, "GATEWAY_ROOT_KEYS"):
        secret_file = tmp_path / name.lower()
        secret_file.write_text(new_root_key(1) if name == "GATEWAY_ROOT_KEYS" else "s3cr3t-" * 10)
        env[f"{name}_FILE"] = str(secret_file)
    env["GATEWAY_VAR_DIR"] = str(tmp_path / "var")
    return env


def manage(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_check_passes_with_the_production_example(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_without_a_secret_key_does_not_start(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    del env["DJANGO_SECRET_KEY_FILE"]

    result = manage(env, "check")

    assert result.returncode != 0
    assert "SECRET_KEY setting must not be empty" in result.stderr


def test_production_refuses_to_start_with_weak_or_missing_secrets(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    Path(env["DJANGO_SECRET_KEY_FILE"]).write_text("too-short")
    for name in ("GATEWAY_ROOT_KEYS_FILE", "GATEWAY_TRUSTED_PROXY_COUNT"):
        del env[name]

    result = manage(env, "check")
    web = subprocess.run(
        [sys.executable, "-c", "import gateway.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    for check_id in ("gateway.E001", "gateway.E003", "gateway.E006"):
        assert check_id in result.stderr
        assert check_id in web.stderr
    assert "refusing to start" in web.stderr


def test_the_web_process_keeps_what_it_loaded_at_start_out_of_the_collector(tmp_path: Path) -> None:
    web = subprocess.run(
        [sys.executable, "-c", "import gc, gateway.wsgi; print(gc.get_freeze_count())"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert int(web.stdout) > 10_000  # Django, the apps and the URLconf: a full collection no longer scans them


@pytest.fixture
def good_production(settings) -> None:
    settings.IS_PRODUCTION = True
    settings.SECRET_KEY = "k" * 20 + "e" * 20 + "y" * 20 + "123456"
    settings.ALLOWED_HOSTS = ["gateway.example.com"]
    settings.GATEWAY_ROOT_KEYS = new_root_key(1) + "," + new_root_key(2)
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.DEBUG = False
    settings.GATEWAY_AUDIT_KEY = settings.GATEWAY_API_KEY_PEPPER = "p" * 40


def _ids() -> list[str]:
    return [str(message.id) for message in checks.production_settings(None) + checks.api_default_permission(None)]


def test_good_production_settings_pass(good_production: None) -> None:
    assert _ids() == []


@pytest.mark.parametrize(
    ("setting", "bad_value", "check_id"),
    [
        ("SECRET_KEY", "django-insecure-" + "x" * 50, "gateway.E001"),
        ("SECRET_KEY", "short", "gateway.E001"),
        ("ALLOWED_HOSTS", [], "gateway.E002"),
        ("ALLOWED_HOSTS", ["*"], "gateway.E002"),
        ("GATEWAY_ROOT_KEYS", "", "gateway.E003"),
        ("GATEWAY_ROOT_KEYS", "1:dG9vIHNob3J0", "gateway.E003"),
        ("GATEWAY_ROOT_KEYS", "one:" + "A" * 43, "gateway.E003"),
        ("SESSION_COOKIE_SECURE", False, "gateway.E004"),
        ("CSRF_COOKIE_SECURE", False, "gateway.E004"),
        ("SECURE_HSTS_SECONDS", 3600, "gateway.E005"),
        ("SECURE_HSTS_INCLUDE_SUBDOMAINS", False, "gateway.E005"),
        ("TRUSTED_PROXY_COUNT", None, "gateway.E006"),
        ("SECURE_PROXY_SSL_HEADER", None, "gateway.E011"),
        ("DEBUG", True, "gateway.E008"),
        ("GATEWAY_AUDIT_KEY", "", "gateway.E010"),
        ("GATEWAY_API_KEY_PEPPER", "short", "gateway.E010"),
    ],
)
def test_each_check_fails_when_its_setting_is_wrong(
    good_production: None, settings, setting: str, bad_value: object, check_id: str
) -> None:
    setattr(settings, setting, bad_value)

    assert _ids() == [check_id]


def test_browsable_api_is_refused_in_production(good_production: None, settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_RENDERER_CLASSES": [
            "rest_framework.renderers.JSONRenderer",
            "rest_framework.renderers.BrowsableAPIRenderer",
        ],
    }

    assert _ids() == ["gateway.E009"]


@pytest.mark.parametrize("classes", [[], ["rest_framework.permissions.AllowAny"]])
def test_allow_any_default_permission_is_refused_everywhere(settings, classes: list[str]) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_PERMISSION_CLASSES": classes}

    assert [message.id for message in checks.api_default_permission(None)] == ["gateway.E007"]


def test_development_skips_production_checks(settings) -> None:
    settings.IS_PRODUCTION = False
    settings.GATEWAY_ROOT_KEYS = ""

    assert checks.production_settings(None) == []


def test_refuse_unsafe_start_raises_with_ids(good_production: None, settings) -> None:
    settings.ALLOWED_HOSTS = []

    with pytest.raises(ImproperlyConfigured, match=r"gateway\.E002"):
        checks.refuse_unsafe_start()


def test_root_keys_parse_versions() -> None:
    keys = parse_root_keys(f"{new_root_key(1)}, {new_root_key(7)}")

    assert sorted(keys) == [1, 7]
    assert all(len(key) == 32 for key in keys.values())


def test_env_helpers_read_files_and_refuse_nonsense(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    monkeypatch.setenv("SAMPLE", "from-env")
    monkeypatch.setenv("SAMPLE_FILE", str(secret))
    monkeypatch.setenv("FLAG", "maybe")
    monkeypatch.setenv("NUMBER", "12x")

    assert env_str("SAMPLE") == "from-file"
    with pytest.raises(ImproperlyConfigured, match="FLAG must be one of"):
        env_bool("FLAG", False)
    with pytest.raises(ImproperlyConfigured, match="NUMBER must be an integer"):
        env_int("NUMBER", 1)
    monkeypatch.setenv("SAMPLE_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_str("SAMPLE")


def test_generate_secrets_writes_private_files_once(tmp_path: Path) -> None:
    env = {**os.environ, "GATEWAY_VAR_DIR": str(tmp_path / "var")}
    first = manage(env, "generate_secrets", "--dir", str(tmp_path / "secrets"))
    second = manage(env, "generate_secrets", "--dir", str(tmp_path / "secrets"))

    assert first.returncode == 0, first.stderr
    assert (tmp_path / "secrets" / "django_secret_key").stat().st_mode & 0o777 == 0o600
    parse_root_keys((tmp_path / "secrets" / "gateway_root_keys").read_text())
    assert second.returncode != 0
    assert "refusing to overwrite" in second.stderr
