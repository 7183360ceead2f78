"""Create, once, every secret of the compose deployment (deploy/compose.yaml's ``secrets`` service).

- the gateway's own secrets (``manage.py generate_secrets``): Django's secret key, the encryption root keys, the
  audit key and the API key pepper;
- a password for PostgreSQL and one for Redis, with the ``database_url`` and ``redis_url`` files the gateway
  reads through DATABASE_URL_FILE and REDIS_URL_FILE.

Each file is readable by its reader only (mode 0400): the gateway's user for its folder, PostgreSQL's and Redis'
users for theirs. When the gateway's secrets exist already, nothing is written: a second ``docker compose up`` keeps
them (a new root key would make every sealed value unreadable). Standard library only, apart from the command.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

MANAGE = Path(__file__).resolve().parents[1] / "manage.py"
FIRST_SECRET = "django_secret_key"  # generate_secrets writes it first
PASSWORD_BYTES = 32
DATABASE = "gateway"


def _write(path: Path, value: str, owner: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    os.chown(path, owner, -1)


def _generate_gateway_secrets(directory: Path) -> None:
    # Production, so that no development secret is made on the way; the checks would refuse the missing secrets.
    env = {"PATH": os.environ.get("PATH", ""), "GATEWAY_ENV": "production"}
    if os.environ.get("GATEWAY_VAR_DIR"):
        env["GATEWAY_VAR_DIR"] = os.environ["GATEWAY_VAR_DIR"]
    command = [sys.executable, str(MANAGE), "generate_secrets", "--skip-checks", "--dir", str(directory)]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 (a fixed command)


def create_secrets(arguments: argparse.Namespace) -> bool:
    """Write every secret; False (and nothing written) when the gateway's secrets exist already."""
    gateway: Path = arguments.gateway_dir
    if (gateway / FIRST_SECRET).exists():
        return False
    _generate_gateway_secrets(gateway)
    for generated in gateway.iterdir():
        generated.chmod(0o400)
        os.chown(generated, arguments.gateway_uid, -1)
    database_password = secrets.token_urlsafe(PASSWORD_BYTES)
    redis_password = secrets.token_urlsafe(PASSWORD_BYTES)
    _write(arguments.postgres_dir / "password", database_password, arguments.postgres_uid)
    _write(arguments.redis_dir / "redis.conf", f"requirepass {redis_password}", arguments.redis_uid)
    database_url = f"postgres://{DATABASE}:{database_password}@{arguments.postgres_host}:5432/{DATABASE}"
    _write(gateway / "database_url", database_url, arguments.gateway_uid)
    _write(gateway / "redis_url", f"redis://:{redis_password}@{arguments.redis_host}:6379/0", arguments.gateway_uid)
    return True


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway-dir", type=Path, default=Path("/run/secrets/gateway"))
    parser.add_argument("--postgres-dir", type=Path, default=Path("/run/secrets/postgres"))
    parser.add_argument("--redis-dir", type=Path, default=Path("/run/secrets/redis"))
    parser.add_argument("--gateway-uid", type=int, default=10001, help="the image's gateway user")
    parser.add_argument("--postgres-uid", type=int, default=999, help="the postgres user of the postgres image")
    parser.add_argument("--redis-uid", type=int, default=999, help="the redis user of the redis image")
    parser.add_argument("--postgres-host", default="postgres")
    parser.add_argument("--redis-host", default="redis")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    created = create_secrets(parse_arguments(argv))
    sys.stdout.write("secrets created\n" if created else "secrets exist; nothing written\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
