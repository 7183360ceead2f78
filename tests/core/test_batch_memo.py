from __future__ import annotations

from collections.abc import Callable

from core.batch_memo import batch_memo, batch_memoized


def _counting() -> tuple[list[int], Callable[[], int]]:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    return calls, compute


def test_outside_a_batch_every_lookup_runs() -> None:
    calls, compute = _counting()
    assert [batch_memoized("key", compute), batch_memoized("key", compute)] == [1, 2]
    assert len(calls) == 2


def test_inside_a_batch_a_key_is_computed_once_and_dropped_at_the_end() -> None:
    _, compute = _counting()
    with batch_memo():
        first = batch_memoized(("channels", 1), compute)
        with batch_memo():  # a nested block shares the outer batch
            again = batch_memoized(("channels", 1), compute)
        other = batch_memoized(("channels", 2), compute)
    after = batch_memoized(("channels", 1), compute)
    assert (first, again, other, after) == (1, 1, 2, 3)
