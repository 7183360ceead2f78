"""What the configured broker holds, read without taking anything: Redis when REDIS_URL is set, else the embedded
broker's folder (core/broker.py)."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from core.redis import redis_client, redis_configured


def embedded_broker_folder() -> Path:
    return Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]).parent


def queued_raw(queue: str) -> list[bytes]:
    """The messages waiting on ``queue``, oldest first, as the broker stores them."""
    if redis_configured():
        raws = reversed(redis_client().lrange(queue, 0, -1))  # kombu pushes on the left, takes from the right
        return [raw.encode() if isinstance(raw, str) else raw for raw in raws]
    folder = embedded_broker_folder() / "queue"
    return [path.read_bytes() for path in sorted(folder.glob(f"*.{queue}.msg"))]


def queued_arguments(queue: str, task: str) -> list[list[Any]]:
    """The positional arguments of the messages waiting on ``queue``, each checked to be a run of ``task``."""
    arguments = []
    for raw in queued_raw(queue):
        envelope = json.loads(raw)
        assert envelope["headers"]["task"] == task
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        arguments.append(args)
    return arguments


def broker_blobs() -> list[bytes]:
    """Every key and value the broker stores (every file name and content for the embedded broker)."""
    if redis_configured():
        client = redis_client()
        blobs: list[bytes] = []
        for key in client.scan_iter(count=1000):
            blobs.append(bytes(key))
            blobs.extend(_redis_values(key))
        return blobs
    files = [path for path in embedded_broker_folder().rglob("*") if path.is_file()]
    return [blob for path in files for blob in (path.name.encode(), path.read_bytes())]


def _redis_values(key: bytes) -> Iterator[bytes]:
    client = redis_client()
    readers: dict[str, Callable[[], Any]] = {
        "string": lambda: [client.get(key)],
        "list": lambda: client.lrange(key, 0, -1),
        "set": lambda: client.smembers(key),
        "zset": lambda: client.zrange(key, 0, -1),
        "hash": lambda: [part for pair in client.hgetall(key).items() for part in pair],
    }
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    assert kind in readers, f"unexpected Redis type {kind}"
    yield from (bytes(value) for value in readers[kind]() if value is not None)


def embedded_broker_empty() -> None:
    """Drops every message of the embedded broker (its folders come back when a channel opens)."""
    folder = embedded_broker_folder()
    for name in ("queue", "claimed", "staging", "rejected"):
        shutil.rmtree(folder / name, ignore_errors=True)
        (folder / name).mkdir(parents=True)
