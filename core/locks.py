"""Named locks with an expiry, so periodic jobs never overlap, and counted slots built on them, so a few holders at
most work on one thing at once across processes (Redis when configured, else the database)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.models import Lease
from core.redis import redis_client, redis_configured

_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@contextmanager
def held_lock(name: str, *, ttl_seconds: int) -> Iterator[bool]:
    """Yields True when this caller holds the lock, False when someone else does."""
    token = secrets.token_hex(16)
    acquired = _acquire(name, token, ttl_seconds)
    try:
        yield acquired
    finally:
        if acquired:
            _release(name, token)


@contextmanager
def held_slot(name: str, *, slots: int, ttl_seconds: int) -> Iterator[bool]:
    """Yields True when this caller holds one of ``slots`` slots named ``name``, False when all are held. A holder
    that dies keeps its slot only until ``ttl_seconds`` pass."""
    token = secrets.token_hex(16)
    held = next((f"{name}:{slot}" for slot in range(slots) if _acquire(f"{name}:{slot}", token, ttl_seconds)), None)
    try:
        yield held is not None
    finally:
        if held is not None:
            _release(held, token)


def _acquire(name: str, token: str, ttl_seconds: int) -> bool:
    if redis_configured():
        return bool(redis_client().set(f"lock:{name}", token, nx=True, ex=ttl_seconds))
    now = timezone.now()
    expires_at = now + timedelta(seconds=ttl_seconds)
    taken = Lease.objects.filter(Q(name=name) & Q(expires_at__lte=now)).update(token=token, expires_at=expires_at)
    if taken:
        return True
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, token=token, expires_at=expires_at)
    except IntegrityError:
        return False
    return True


def _release(name: str, token: str) -> None:
    if redis_configured():
        redis_client().eval(_RELEASE_SCRIPT, 1, f"lock:{name}", token)
        return
    Lease.objects.filter(name=name, token=token).delete()
