"""Find PostgreSQL and Redis for the test suite: configured, or reachable on localhost.

    python -m core.services_probe exec -- pytest ...   run a command with DATABASE_URL/REDIS_URL set
    python -m core.services_probe show                 print what would be used

With GATEWAY_REQUIRE_SERVICES=1 (CI) a missing service is an error, never a silent fallback.
"""

from __future__ import annotations

import os
import sys

LOCAL_DATABASE_URLS = (
    "postgres://postgres@127.0.0.1:5432/gateway",
    "postgres://root@127.0.0.1:5432/gateway",
)
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/15"


def database_url_reachable(url: str) -> bool:
    import psycopg

    maintenance = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(maintenance, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def redis_url_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def discover() -> dict[str, str]:
    found: dict[str, str] = {}
    database_url = os.environ.get("DATABASE_URL") or next(
        (url for url in LOCAL_DATABASE_URLS if database_url_reachable(url)), ""
    )
    if database_url:
        found["DATABASE_URL"] = database_url
    redis_url = os.environ.get("REDIS_URL") or (LOCAL_REDIS_URL if redis_url_reachable(LOCAL_REDIS_URL) else "")
    if redis_url:
        found["REDIS_URL"] = redis_url
    return found


def main(arguments: list[str]) -> int:
    found = discover()
    required = os.environ.get("GATEWAY_REQUIRE_SERVICES", "") == "1"
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if name not in found]
    for name in ("DATABASE_URL", "REDIS_URL"):
        print(f"services: {name} = {found.get(name, 'not found (embedded default)')}", file=sys.stderr)
    if required and missing:
        print(f"services: required but not reachable: {', '.join(missing)}", file=sys.stderr)
        return 2
    if arguments[:1] == ["exec"] and "--" in arguments:
        command = arguments[arguments.index("--") + 1 :]
        os.execvpe(command[0], command, {**os.environ, **found})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
