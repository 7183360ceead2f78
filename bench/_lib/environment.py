"""A throwaway database and Celery queue for one run, and Django set up against them."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parent.parent.parent


class Launchable(Protocol):
    """What a run's processes are started with: the environment variables of its settings and database."""

    def env(self) -> dict[str, str]: ...


@contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """A new PostgreSQL database next to DATABASE_URL's (dropped on exit); "" when there is no DATABASE_URL."""
    base = os.environ.get("DATABASE_URL", "")
    if not base:
        yield ""
        return
    import psycopg
    from psycopg import sql

    maintenance = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        from django.apps import apps

        if apps.ready:
            from django.db import connections

            connections.close_all()
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def queue_delete(redis_url: str, queue: str) -> int:
    """Remove this run's queue and its kombu binding from Redis (bounded scan on its own key names)."""
    if not redis_url:
        return 0
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    keys = list(itertools.islice(client.scan_iter(match=f"*{queue}*", count=1000), 100))
    return int(client.delete(*keys)) if keys else 0


def migrate(environment: Launchable) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=environment.env(),
        check=True,
        timeout=180,
    )
    return time.perf_counter() - started


def django_setup(variables: dict[str, str], paths: list[Path]) -> None:
    """Django in this process, with ``variables`` set in its environment and ``paths`` (the project first) on
    ``sys.path``."""
    os.environ.update(variables)
    for path in map(str, [ROOT, *paths]):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django

    django.setup()
