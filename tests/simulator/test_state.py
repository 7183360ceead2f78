"""The limiters and the fault draw on their own, with explicit clocks instead of sleeping."""

from __future__ import annotations

from simulator.state import Fault, FaultPlan, PairLimiter, ThroughputWindow


def accept_all(window: ThroughputWindow, times: list[float]) -> list[bool]:
    accepted = []
    for now in times:
        has_room = window.has_room(now)
        if has_room:
            window.record(now)
        accepted.append(has_room)
    return accepted


def test_fixed_window_counts_per_wall_clock_second() -> None:
    window = ThroughputWindow(2, is_sliding=False)

    accepted = accept_all(window, [100.1, 100.5, 100.9, 101.0, 101.2, 101.3])

    assert accepted == [True, True, False, True, True, False]
    assert window.histogram == {100: 2, 101: 2}


def test_sliding_window_caps_any_one_second_span() -> None:
    window = ThroughputWindow(2, is_sliding=True)

    accepted = accept_all(window, [100.8, 100.9, 101.0, 101.7, 101.85, 101.95])

    assert accepted == [True, True, False, False, True, True]
    assert window.histogram == {100: 2, 101: 2}


def test_pair_limiter_refills_one_token_per_period() -> None:
    limiter = PairLimiter(period=6.0, burst=2)
    for now in (0.0, 0.0):
        assert limiter.has_token("a", now)
        limiter.take("a", now)

    assert not limiter.has_token("a", 5.9)
    assert limiter.has_token("a", 6.0)
    assert limiter.has_token("b", 0.0)
    assert PairLimiter(period=0, burst=1).has_token("a", 0.0)


def test_fault_draws_follow_the_seed_and_the_rates() -> None:
    def draws(seed: int) -> list[Fault | None]:
        plan = FaultPlan(
            {Fault.SERVER_ERROR: 0.2, Fault.RESET: 0.1}, timeout_seconds=None, server_error_status=500, seed=seed
        )
        return [plan.draw() for _ in range(2000)]

    first = draws(3)

    assert first == draws(3)
    assert first != draws(4)
    assert 300 <= first.count(Fault.SERVER_ERROR) <= 500
    assert 130 <= first.count(Fault.RESET) <= 270
    assert first.count(None) + first.count(Fault.SERVER_ERROR) + first.count(Fault.RESET) == 2000
