"""deploy/compose.yaml, read as data: the services a production gateway needs, started in the right order, with an
environment that passes the production checks. (No Docker engine runs these tests: the file is checked here for
its structure, docs/deploy.md says so.)"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.gateway.deploy_support import COMPOSE, DEFAULTED_VARIABLE, DEPLOY, compose, compose_services, deploy_check
from tests.gateway.deploy_support import secret_files as create_secret_files
from tests.gateway.support import ROOT, run_python

GATEWAY_SECRETS = "/run/secrets/gateway"
# The services that run the gateway's image and need its database schema.
SCHEMA_USERS = ("web", "worker-ingest", "worker-outbound", "worker-events", "worker-maintenance", "beat")


def test_compose_has_every_process_of_a_production_gateway() -> None:
    services = compose_services()

    assert set(services) == {"secrets", "postgres", "redis", "migrate", "proxy", *SCHEMA_USERS}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["postgres"]["command"] == ["postgres", "-c", "wal_compression=lz4"]  # docs/retention.md
    assert services["redis"]["image"] == "redis:7"
    assert services["proxy"]["image"] == "caddy:2"


def test_compose_uses_only_variables_with_defaults() -> None:
    text = DEFAULTED_VARIABLE.sub("", COMPOSE.read_text()).replace("$$", "")

    assert "$" not in text  # `docker compose up` with no .env starts the gateway on localhost


def test_redis_keeps_every_task_appended_and_never_evicts() -> None:
    command = compose_services()["redis"]["command"]

    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert compose_services()["redis"]["healthcheck"]["test"][0] == "CMD-SHELL"


def test_postgres_is_healthchecked_before_the_migrations_run() -> None:
    services = compose_services()

    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["postgres"]["depends_on"]["secrets"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("name", SCHEMA_USERS)
def test_web_workers_and_beat_wait_for_the_migrations(name: str) -> None:
    service = compose_services()[name]

    assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert f"gateway-secrets:{GATEWAY_SECRETS}:ro" in service["volumes"]


@pytest.mark.parametrize("name", [name for name in SCHEMA_USERS if name.startswith("worker-")])
def test_a_stopping_worker_has_time_to_finish_its_running_tasks(name: str) -> None:
    grace = compose_services()[name]["stop_grace_period"]

    assert grace.endswith("s")
    assert int(grace.removesuffix("s")) >= settings.CELERY_TASK_TIME_LIMIT


def test_exactly_one_beat_and_two_web_replicas() -> None:
    services = compose_services()
    beats = [name for name, service in services.items() if "beat" in service.get("command", [])[3:4]]

    assert beats == ["beat"]
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["web"]["deploy"]["replicas"] == 2


def test_the_proxy_terminates_tls_and_forwards_the_client_and_scheme() -> None:
    proxy = compose_services()["proxy"]
    caddyfile = (DEPLOY / "Caddyfile").read_text()

    assert {"80:80", "443:443"} <= set(proxy["ports"])
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["depends_on"]["web"] == {"condition": "service_healthy"}
    assert "tls {$GATEWAY_TLS:internal}" in caddyfile
    assert re.search(r"reverse_proxy \{\s*dynamic a web 8000", caddyfile)
    assert "header_up X-Forwarded-For {remote_host}" in caddyfile
    assert "header_up X-Forwarded-Proto {scheme}" in caddyfile
    assert compose()["services"]["web"]["environment"]["GATEWAY_TRUSTED_PROXY_COUNT"] == "1"


def test_postgres_and_redis_are_on_the_internal_network_only() -> None:
    services = compose_services()

    assert compose()["networks"]["backend"] == {"internal": True}
    assert services["postgres"]["networks"] == services["redis"]["networks"] == ["backend"]
    assert "ports" not in services["postgres"] and "ports" not in services["redis"]
    assert services["proxy"]["networks"] == ["default"]


@pytest.fixture
def secret_files(tmp_path: Path) -> Path:
    created = create_secret_files(tmp_path, os.getuid())
    assert created.returncode == 0, created.stderr
    return tmp_path


def test_the_secrets_are_created_once_each_readable_by_its_owner_only(secret_files: Path) -> None:
    gateway = secret_files / "gateway"
    before = {path.name: path.read_text() for path in gateway.iterdir()}

    again = create_secret_files(secret_files, os.getuid())

    assert again.returncode == 0, again.stderr
    assert "nothing written" in again.stdout
    assert {path.name: path.read_text() for path in gateway.iterdir()} == before
    assert set(before) == {
        "django_secret_key",
        "gateway_root_keys",
        "gateway_audit_key",
        "gateway_api_key_pepper",
        "gateway_audit_signing_key",
        "database_url",
        "redis_url",
    }
    for path in [*gateway.iterdir(), secret_files / "postgres" / "password", secret_files / "redis" / "redis.conf"]:
        assert path.stat().st_mode & 0o777 == 0o400


def test_the_service_passwords_match_the_gateways_urls(secret_files: Path) -> None:
    database_password = (secret_files / "postgres" / "password").read_text().strip()
    redis_password = (secret_files / "redis" / "redis.conf").read_text().removeprefix("requirepass ").strip()

    assert len(database_password) >= 40 and len(redis_password) >= 40
    assert (secret_files / "gateway" / "database_url").read_text().strip() == (
        f"postgres://gateway:{database_password}@postgres:5432/gateway"
    )
    assert (secret_files / "gateway" / "redis_url").read_text().strip() == f"redis://:{redis_password}@redis:6379/0"


def test_the_compose_environment_passes_the_production_checks(secret_files: Path) -> None:
    services = compose_services()
    shared = services["web"]["environment"]
    environment = {
        key: str(value).replace(GATEWAY_SECRETS, str(secret_files / "gateway")) for key, value in shared.items()
    }

    result = deploy_check(environment, secret_files / "var", fail_level="ERROR")

    assert all(services[name]["environment"] == shared for name in (*SCHEMA_USERS, "migrate"))
    assert shared["GATEWAY_ENV"] == "production"
    assert shared["GATEWAY_SERVICES_TLS"] == "off"  # PostgreSQL and Redis are on the host's internal network only
    assert result.returncode == 0, result.stderr
    # The one issue left is the warning that declares the internal network's plain connections (gateway.W001).
    assert re.findall(r"\((\S+)\)", result.stderr) == ["gateway.W001"]
    assert "1 issue" in result.stderr


def _compose_web_command(listener: socket.socket) -> list[str]:
    """The compose web command, on a socket made here instead of 0.0.0.0:8000, with one gunicorn worker."""
    command = [str(value) for value in compose_services()["web"]["command"]]
    command[command.index("0.0.0.0:8000")] = f"fd://{listener.fileno()}"
    command[command.index("--workers") + 1] = "1"
    return [str(Path(sys.executable).parent / command[0]), *command[1:], "--no-control-socket"]


def _healthcheck(port: int, allowed_hosts: str) -> int:
    env = {"PATH": os.environ.get("PATH", ""), "GATEWAY_HEALTHCHECK_PORT": str(port)}
    return run_python({**env, "DJANGO_ALLOWED_HOSTS": allowed_hosts}, str(DEPLOY / "healthcheck.py")).returncode


@pytest.mark.slow
def test_the_compose_web_process_starts_in_production_and_passes_the_image_health_check(secret_files: Path) -> None:
    shared = compose_services()["web"]["environment"]
    environment = {
        key: str(value).replace(GATEWAY_SECRETS, str(secret_files / "gateway")) for key, value in shared.items()
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GATEWAY_", "DJANGO_"))}
    env.update(environment, GATEWAY_VAR_DIR=str(secret_files / "var"))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    process = subprocess.Popen(
        _compose_web_command(listener), cwd=ROOT, env=env, stderr=subprocess.DEVNULL, pass_fds=(listener.fileno(),)
    )
    listener.close()
    try:
        # The image's health check, until gunicorn has loaded the gateway (every attempt waits up to 5 s).
        healthy = any(_healthcheck(port, environment["DJANGO_ALLOWED_HOSTS"]) == 0 for _ in range(24))
        refused_host = _healthcheck(port, "not-the-gateway.example") if healthy else None
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)

    assert healthy, "gunicorn never answered /healthz"
    assert refused_host == 1  # Django refuses any host but the allowed ones: the check must send one
