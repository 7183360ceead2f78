"""Lookups shared by the items of one task batch: a task that processes many rows in turn (a batch of webhook
deliveries) reads the same channels and endpoints for each; inside ``batch_memo()`` the first read is kept and
the rest reuse it until the batch ends. Outside a batch every lookup runs as asked.

Only for rows that change rarely and whose change may take effect at the next batch (a channel's routing, an
endpoint's subscriptions): a batch lasts a fraction of a second, the same window a concurrent change already has
against a commit in flight. Values are per thread (a context variable), never shared between tasks."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar, cast

Value = TypeVar("Value")

_memo: ContextVar[dict[Hashable, object] | None] = ContextVar("gateway_batch_memo", default=None)


@contextmanager
def batch_memo() -> Iterator[None]:
    """Keep lookups made through ``batch_memoized`` until the block ends (nested blocks share the outer one)."""
    if _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def batch_memoized(key: Hashable, compute: Callable[[], Value]) -> Value:
    """``compute()``, kept under ``key`` for the rest of the batch when one is open. ``key`` names the lookup and
    its arguments (e.g. ``("channels", app_id, routing_ids)``)."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return cast(Value, memo[key])  # stored under this key by this function, from compute()
