from __future__ import annotations

import os
import re
import ssl
import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from encryption.providers import parse_root_keys
from encryption.signing import signing_key_load
from gateway import checks
from gateway.celery import refuse_unsafe_celery_start
from gateway.env import env_bool, env_int, env_str, new_signing_key
from gateway.env import new_root_key_entry as new_root_key
from gateway.settings import REST_FRAMEWORK
from gateway.settings_authguard import redis_tls_options
from tests.gateway.support import SHARED_SECRET, production_env, run_python

# The checks read DATABASES and never connect with it; Django warns about any override of it.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES:UserWarning")

GOOD_SECRET_KEY = "k" * 20 + "e" * 20 + "y" * 20 + "123456"
SQLITE_DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "gateway.sqlite3"}}
POSTGRESQL_DATABASES = {
    "default": {"ENGINE": "django.db.backends.postgresql", "NAME": "gateway", "OPTIONS": {"sslmode": "verify-full"}}
}
REDIS_TLS_URL = "rediss://redis.internal:6379/0"


def postgresql_with(options: dict[str, str]) -> dict[str, dict[str, object]]:
    return {"default": {**POSTGRESQL_DATABASES["default"], "OPTIONS": options}}


# Every way a production setting can be unsafe, with the check that refuses it: the web process, the worker and
# beat all run these checks before they start (gateway/wsgi.py, gateway/celery.py).
UNSAFE_PRODUCTION_SETTINGS = [
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
    ("REST_FRAMEWORK", {**REST_FRAMEWORK, "DEFAULT_PERMISSION_CLASSES": []}, "gateway.E007"),
    (
        "REST_FRAMEWORK",
        {**REST_FRAMEWORK, "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]},
        "gateway.E007",
    ),
    ("DEBUG", True, "gateway.E008"),
    (
        "REST_FRAMEWORK",
        {
            **REST_FRAMEWORK,
            "DEFAULT_RENDERER_CLASSES": [
                "rest_framework.renderers.JSONRenderer",
                "rest_framework.renderers.BrowsableAPIRenderer",
            ],
        },
        "gateway.E009",
    ),
    ("GATEWAY_AUDIT_KEY", "", "gateway.E010"),
    ("GATEWAY_API_KEY_PEPPER", "short", "gateway.E010"),
    ("SECURE_PROXY_SSL_HEADER", None, "gateway.E011"),
    ("SECURE_SSL_REDIRECT", False, "gateway.E012"),
    ("SECURE_HSTS_PRELOAD", False, "gateway.E013"),
    ("DATABASES", SQLITE_DATABASES, "gateway.E014"),
    ("CELERY_BROKER_URL", "filesystem://", "gateway.E015"),
    ("CELERY_BROKER_URL", None, "gateway.E015"),  # the embedded default names its transport, not a URL
    ("CSRF_TRUSTED_ORIGINS", ["http://gateway.example.com"], "gateway.E016"),
    ("CSRF_TRUSTED_ORIGINS", ["https://gateway.example.com", "HTTP://admin.example.com"], "gateway.E016"),
    ("GATEWAY_API_KEY_PEPPER", GOOD_SECRET_KEY, "gateway.E017"),
    ("GATEWAY_AUDIT_KEY", GOOD_SECRET_KEY, "gateway.E017"),
    ("GATEWAY_AUDIT_KEY", "p" * 40, "gateway.E017"),
    ("DATABASES", postgresql_with({}), "gateway.E018"),
    ("DATABASES", postgresql_with({"sslmode": "require"}), "gateway.E018"),  # encrypted, but to whom?
    ("REDIS_URL", "redis://redis.internal:6379/0", "gateway.E019"),
    ("REDIS_URL", REDIS_TLS_URL + "?ssl_cert_reqs=none", "gateway.E019"),
    ("CELERY_BROKER_URL", "redis://redis.internal:6379/0", "gateway.E019"),
    ("CELERY_BROKER_USE_SSL", None, "gateway.E019"),  # kombu would not verify the certificate
    ("CELERY_BROKER_USE_SSL", {"ssl_cert_reqs": ssl.CERT_OPTIONAL}, "gateway.E019"),
    ("OTP_WEBAUTHN_RP_ID", "", "gateway.E020"),
    ("OTP_WEBAUTHN_RP_ID", "example.org", "gateway.E020"),
    ("OTP_WEBAUTHN_ALLOWED_ORIGINS", [], "gateway.E020"),
    ("OTP_WEBAUTHN_ALLOWED_ORIGINS", ["http://gateway.example.com"], "gateway.E020"),
    (
        "OTP_WEBAUTHN_ALLOWED_ORIGINS",
        ["https://gateway.example.com", "https://gateway.example.com.evil.net"],
        "gateway.E020",
    ),
    ("GATEWAY_AUDIT_SIGNING_KEY", "", "gateway.E021"),
    ("GATEWAY_AUDIT_SIGNING_KEY", "dG9vIHNob3J0", "gateway.E021"),
    ("GATEWAY_AUDIT_SIGNING_KEY", "not base64!", "gateway.E021"),
    ("GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEYS", ["ed25519:dG9vIHNob3J0"], "gateway.E021"),
]
UNSAFE_IDS = [f"{setting}-{check_id}" for setting, _, check_id in UNSAFE_PRODUCTION_SETTINGS]


def manage(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return run_python(env, "manage.py", *arguments)


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
    web = run_python(env, "-c", "import gateway.wsgi")

    assert result.returncode != 0
    for check_id in ("gateway.E001", "gateway.E003", "gateway.E006"):
        assert check_id in result.stderr
        assert check_id in web.stderr
    assert "refusing to start" in web.stderr


def test_production_refuses_plain_http_embedded_services_and_a_reused_secret(tmp_path: Path) -> None:
    env = production_env(
        tmp_path,
        {
            "GATEWAY_SSL_REDIRECT": "0",
            "GATEWAY_HSTS_PRELOAD": "0",
            "DATABASE_URL": None,
            "REDIS_URL": None,
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://gateway.example.com,http://gateway.example.com",
            "DJANGO_SECRET_KEY_FILE": None,
            "GATEWAY_AUDIT_KEY_FILE": None,
            "DJANGO_SECRET_KEY": SHARED_SECRET,
            "GATEWAY_AUDIT_KEY": SHARED_SECRET,
        },
    )

    result = manage(env, "check")
    web = run_python(env, "-c", "import gateway.wsgi")

    assert result.returncode != 0
    assert web.returncode != 0
    for check_id in ("E012", "E013", "E014", "E015", "E016", "E017"):
        assert f"gateway.{check_id}" in result.stderr
        assert f"gateway.{check_id}" in web.stderr
    assert SHARED_SECRET not in result.stderr + web.stderr


def test_the_web_process_keeps_what_it_loaded_at_start_out_of_the_collector(tmp_path: Path) -> None:
    web = run_python(production_env(tmp_path), "-c", "import gc, gateway.wsgi; print(gc.get_freeze_count())")

    assert web.returncode == 0, web.stderr
    assert int(web.stdout) > 10_000  # Django, the apps and the URLconf: a full collection no longer scans them


@pytest.fixture
def good_production(settings) -> None:
    settings.IS_PRODUCTION = True
    settings.SECRET_KEY = GOOD_SECRET_KEY
    settings.ALLOWED_HOSTS = ["gateway.example.com"]
    settings.GATEWAY_ROOT_KEYS = new_root_key(1) + "," + new_root_key(2)
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.DEBUG = False
    settings.GATEWAY_AUDIT_KEY = "a" * 40
    settings.GATEWAY_API_KEY_PEPPER = "p" * 40
    settings.GATEWAY_AUDIT_SIGNING_KEY = new_signing_key()
    settings.SECURE_SSL_REDIRECT = settings.SECURE_HSTS_PRELOAD = True
    settings.PROXY_ENFORCES_HTTPS = False
    settings.DATABASES = POSTGRESQL_DATABASES
    settings.REDIS_URL = settings.CELERY_BROKER_URL = REDIS_TLS_URL
    settings.CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    settings.SERVICES_TLS = "required"
    settings.CSRF_TRUSTED_ORIGINS = ["https://gateway.example.com"]
    settings.OTP_WEBAUTHN_RP_ID = "gateway.example.com"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = ["https://gateway.example.com", "https://admin.gateway.example.com"]


def _ids() -> list[str]:
    return [str(message.id) for message in checks.production_settings(None) + checks.api_default_permission(None)]


def test_good_production_settings_pass(good_production: None) -> None:
    assert _ids() == []


@pytest.mark.parametrize(("setting", "bad_value", "check_id"), UNSAFE_PRODUCTION_SETTINGS, ids=UNSAFE_IDS)
def test_each_check_fails_when_its_setting_is_wrong(
    good_production: None, settings, setting: str, bad_value: object, check_id: str
) -> None:
    setattr(settings, setting, bad_value)

    assert _ids() == [check_id]


@pytest.mark.parametrize(("setting", "bad_value", "check_id"), UNSAFE_PRODUCTION_SETTINGS, ids=UNSAFE_IDS)
def test_worker_and_beat_exit_on_each_unsafe_setting(
    good_production: None, settings, capfd: pytest.CaptureFixture[str], setting: str, bad_value: object, check_id: str
) -> None:
    setattr(settings, setting, bad_value)

    with pytest.raises(SystemExit) as exit_info:
        refuse_unsafe_celery_start()

    assert exit_info.value.code == 1
    assert check_id in capfd.readouterr().err


def test_worker_and_beat_start_with_good_production_settings(
    good_production: None, capfd: pytest.CaptureFixture[str]
) -> None:
    refuse_unsafe_celery_start()

    assert capfd.readouterr().err == ""


def test_every_check_id_has_an_unsafe_setting() -> None:
    source = Path(checks.__file__).read_text()

    assert {check_id for _, _, check_id in UNSAFE_PRODUCTION_SETTINGS} == set(
        re.findall(r'id="(gateway\.E\d+)"', source)
    )


def test_a_proxy_that_enforces_https_may_take_over_the_redirect_and_preload(good_production: None, settings) -> None:
    settings.SECURE_SSL_REDIRECT = settings.SECURE_HSTS_PRELOAD = False
    settings.PROXY_ENFORCES_HTTPS = True

    assert _ids() == []


def test_enforcing_https_at_the_proxy_needs_a_declared_proxy(good_production: None, settings) -> None:
    settings.SECURE_SSL_REDIRECT = settings.SECURE_HSTS_PRELOAD = False
    settings.PROXY_ENFORCES_HTTPS = True
    settings.TRUSTED_PROXY_COUNT = 0
    settings.SECURE_PROXY_SSL_HEADER = None

    assert _ids() == ["gateway.E012", "gateway.E013"]


def test_the_reused_secret_is_named_but_never_shown(good_production: None, settings) -> None:
    settings.GATEWAY_AUDIT_KEY = settings.GATEWAY_API_KEY_PEPPER = settings.SECRET_KEY

    (message,) = checks.production_settings(None)

    assert message.msg == (
        "The same secret is used twice: SECRET_KEY and GATEWAY_AUDIT_KEY; SECRET_KEY and GATEWAY_API_KEY_PEPPER; "
        "GATEWAY_AUDIT_KEY and GATEWAY_API_KEY_PEPPER."
    )
    assert GOOD_SECRET_KEY not in str(message)


@pytest.mark.parametrize("classes", [[], ["rest_framework.permissions.AllowAny"]])
def test_allow_any_default_permission_is_refused_everywhere(settings, classes: list[str]) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_PERMISSION_CLASSES": classes}

    assert [message.id for message in checks.api_default_permission(None)] == ["gateway.E007"]


def test_development_skips_production_checks(settings) -> None:
    settings.IS_PRODUCTION = False
    settings.GATEWAY_ROOT_KEYS = ""
    settings.DATABASES = SQLITE_DATABASES
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.SECURE_SSL_REDIRECT = settings.SECURE_HSTS_PRELOAD = False
    settings.CSRF_TRUSTED_ORIGINS = ["http://127.0.0.1:8000"]

    assert checks.production_settings(None) == []
    refuse_unsafe_celery_start()  # the embedded default (`make run`) starts its worker and beat


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
    signing_key_load((tmp_path / "secrets" / "gateway_audit_signing_key").read_text())
    assert second.returncode != 0
    assert "refusing to overwrite" in second.stderr


def test_an_empty_var_dir_is_the_default_not_the_current_folder(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GATEWAY_", "DJANGO_"))}
    env["GATEWAY_VAR_DIR"] = ""
    env["DJANGO_SETTINGS_MODULE"] = "gateway.settings"
    shown = run_python(env, "-c", "from django.conf import settings; print(settings.VAR_DIR)")

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == str(Path(checks.__file__).resolve().parents[1] / "var")


# --- TLS to PostgreSQL and Redis ---------------------------------------------------------------------------------


def test_verify_ca_is_accepted_with_a_warning_that_the_host_name_is_unchecked(good_production: None, settings) -> None:
    settings.DATABASES = postgresql_with({"sslmode": "verify-ca", "sslrootcert": "/etc/gateway/ca.pem"})

    assert _ids() == ["gateway.W002"]
    checks.refuse_unsafe_start()  # a warning: the processes start


def test_a_declared_private_path_turns_the_tls_errors_into_one_warning(good_production: None, settings) -> None:
    settings.SERVICES_TLS = "off"
    settings.DATABASES = postgresql_with({})
    settings.REDIS_URL = settings.CELERY_BROKER_URL = "redis://redis.internal:6379/0"
    settings.CELERY_BROKER_USE_SSL = None

    assert _ids() == ["gateway.W001"]
    checks.refuse_unsafe_start()


def test_production_refuses_services_without_verified_tls_unless_declared_private(tmp_path: Path) -> None:
    plain: dict[str, str | None] = {
        "DATABASE_URL": "postgres://gateway@db.internal:5432/gateway",
        "REDIS_URL": "redis://redis.internal/0",
    }

    refused = manage(production_env(tmp_path, plain), "check")
    private = production_env(tmp_path, {**plain, "GATEWAY_SERVICES_TLS": "off"})
    started = manage(private, "check")
    deploy = manage(private, "check", "--deploy", "--fail-level", "WARNING")

    assert refused.returncode != 0
    assert "gateway.E018" in refused.stderr and "gateway.E019" in refused.stderr
    assert started.returncode == 0, started.stderr
    assert deploy.returncode != 0
    assert "gateway.W001" in deploy.stderr


TLS_PASS_THROUGH = """
import django, ssl
django.setup()
from django.db import connection
from core.redis import redis_client
from gateway.celery import app

database = connection.get_connection_params()
redis = redis_client().connection_pool.make_connection()  # not connected: its settings only
broker = app.connection_for_write()
print(database["sslmode"], database["sslrootcert"])
print(type(redis).__name__, redis.cert_reqs == ssl.CERT_REQUIRED, redis.check_hostname)
print(broker.transport_cls, broker.ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED})
"""


def test_the_tls_options_reach_psycopg_redis_py_and_the_celery_broker(tmp_path: Path) -> None:
    urls: dict[str, str | None] = {
        "DATABASE_URL": "postgres://gateway@db.internal:5432/gateway?sslmode=verify-full&sslrootcert=/etc/ca/db.pem",
        "REDIS_URL": REDIS_TLS_URL,
        "DJANGO_SETTINGS_MODULE": "gateway.settings",
    }

    shown = run_python(production_env(tmp_path, urls), "-c", TLS_PASS_THROUGH)

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split("\n")[:3] == [
        "verify-full /etc/ca/db.pem",
        "SSLConnection True True",
        "rediss True",
    ]


def test_redis_tls_options_follow_the_url() -> None:
    assert redis_tls_options("redis://redis.internal:6379/0") is None
    assert redis_tls_options("") is None
    assert redis_tls_options(REDIS_TLS_URL) == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert redis_tls_options(REDIS_TLS_URL + "?ssl_cert_reqs=none") == {"ssl_cert_reqs": ssl.CERT_NONE}
    with pytest.raises(ImproperlyConfigured, match="ssl_cert_reqs"):
        redis_tls_options(REDIS_TLS_URL + "?ssl_cert_reqs=sometimes")
