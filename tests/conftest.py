from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from django.db import connection
from django.test import Client
from django_otp.oath import totp

from accounts.mfa import SESSION_VERIFIED_AT, totp_device_provision
from accounts.models import Membership, Role, Tenant, TotpDevice, User
from core.reach import reach_memory_clear
from core.redis import redis_client, redis_configured
from core.tenancy import scope_forget
from encryption import keyring
from messaging.lifetimes import lifetimes_cache_clear
from tests.broker import embedded_broker_empty
from webhooks.app_cache import app_cache_clear

PASSWORD = "correct horse battery staple"
ROOT = Path(__file__).resolve().parents[1]


def totp_code(device: TotpDevice, *, offset_steps: int = 0) -> str:
    """The code an authenticator app would show now (or ``offset_steps`` periods later)."""
    value = totp(bytes.fromhex(device.key), step=device.step, t0=-offset_steps * device.step, digits=device.digits)
    return str(value).zfill(device.digits)


def verify_session(client: Client, device: TotpDevice, *, verified_seconds_ago: float = 0) -> None:
    """Mark the client's session as having passed OTP (what the OTP view does)."""
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session[SESSION_VERIFIED_AT] = time.time() - verified_seconds_ago
    session.save()


def uses_postgresql() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: pytest.FixtureRequest) -> None:
    """The production hasher costs ~0.3 s per login by design; tests log in hundreds of times."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_key_caches() -> Iterator[None]:
    """Key ids can repeat across tests (rolled-back sequences on SQLite, flushed tables): never share caches,
    nor the webhook edge's cached app secrets, nor the retention lifetimes cached per tenant."""
    keyring.cache_clear()
    app_cache_clear()
    lifetimes_cache_clear()
    yield
    keyring.cache_clear()
    app_cache_clear()
    lifetimes_cache_clear()


@pytest.fixture(autouse=True)
def _no_leftover_tenant_scope() -> None:
    """A test that authenticates an API key outside a request leaves the key's tenant scope in this thread."""
    scope_forget()


@pytest.fixture(autouse=True)
def _clean_redis() -> None:
    """Throttle counters and locks live in Redis when configured (daily reach in memory without it): every test
    starts from nothing."""
    if redis_configured():
        redis_client().flushdb()
    reach_memory_clear()


@pytest.fixture(autouse=True)
def _clean_embedded_broker() -> None:
    """Without Redis, messages wait in the embedded broker's folder: every test starts from none."""
    if not redis_configured():
        embedded_broker_empty()


@pytest.fixture
def tenant_a(db: None) -> Tenant:
    return Tenant.objects.create(name="Tenant A", slug="tenant-a")


@pytest.fixture
def tenant_b(db: None) -> Tenant:
    return Tenant.objects.create(name="Tenant B", slug="tenant-b")


@pytest.fixture
def owner_a(tenant_a: Tenant) -> User:
    user = User.objects.create_user("owner@a.example", PASSWORD, is_staff=True)
    Membership.objects.create(tenant=tenant_a, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def owner_b(tenant_b: Tenant) -> User:
    user = User.objects.create_user("owner@b.example", PASSWORD, is_staff=True)
    Membership.objects.create(tenant=tenant_b, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_superuser("operator@gateway.example", PASSWORD)


@pytest.fixture
def operator_device(operator: User) -> TotpDevice:
    return totp_device_provision(user=operator)


@pytest.fixture
def operator_client(operator: User, operator_device: TotpDevice) -> Client:
    """A superuser whose session passed OTP just now."""
    client = Client()
    client.force_login(operator)
    verify_session(client, operator_device)
    return client


def subprocess_database_url() -> str:
    """The URL of the database this test runs against, for a subprocess (a worker, a command)."""
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    return f"postgres://{config['USER']}@{config['HOST']}:{config['PORT']}/{config['NAME']}"


class WorkerProcess(subprocess.Popen[bytes]):
    """A worker whose stderr goes to a file (a pipe nobody reads would fill up and stop it)."""

    def __init__(self, command: list[str], *, env: dict[str, str], log_file: IO[bytes]) -> None:
        super().__init__(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
        self.log_file = log_file

    def log(self) -> str:
        """What the worker has written to stderr so far."""
        descriptor = self.log_file.fileno()
        return os.pread(descriptor, os.fstat(descriptor).st_size, 0).decode(errors="replace")


@contextmanager
def worker_process(
    *queues: str, env: dict[str, str] | None = None, pool: str = "solo", concurrency: int = 1
) -> Iterator[WorkerProcess]:
    """A real Celery worker consuming ``queues`` of this test's database and broker; stopped afterwards.
    ``env`` adds settings (GATEWAY_…) for the worker only; ``pool="prefork"`` runs tasks in child processes,
    ``pool="threads"`` in threads of the one process, ``concurrency`` of them.
    Its log (stderr) goes to a file, written to this test's stderr once it stops: pytest shows it if the test fails."""
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "--app",
        "gateway",
        "worker",
        "--queues",
        ",".join(queues),
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "WARNING",
    ]
    with tempfile.TemporaryFile() as log:
        process = WorkerProcess(command, env=env, log_file=log)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)
            sys.stderr.write(f"--- log of the worker on {','.join(queues)} (exit status {process.returncode}) ---\n")
            sys.stderr.write(process.log())


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False
