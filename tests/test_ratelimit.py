"""The sliding-window limiter, driven by a fake clock so no test sleeps."""

from __future__ import annotations

import pytest

from gemini_vectors.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def simulate(limiter: RateLimiter, clock: FakeClock, calls: list[int]) -> list[float]:
    """Start times of calls made back to back, each waiting what the limiter says."""
    starts = []
    for tokens in calls:
        clock.now += limiter.reserve(tokens)
        starts.append(clock.now)
    return starts


def max_in_any_window(starts: list[float], weights: list[int]) -> int:
    return max(sum(w for s2, w in zip(starts, weights, strict=True) if s <= s2 < s + 60) for s in starts)


def test_unlimited_never_waits() -> None:
    limiter = RateLimiter()
    assert not limiter.enabled
    assert all(limiter.reserve(10**9) == 0.0 for _ in range(100))


def test_rpm_is_never_exceeded_in_any_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=10, clock=clock)
    starts = simulate(limiter, clock, [0] * 35)
    assert starts[:10] == [1000.0] * 10
    assert starts[10] == pytest.approx(1060.0)
    assert max_in_any_window(starts, [1] * 35) == 10


def test_tpm_is_never_exceeded_in_any_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=1000, clock=clock)
    calls = [300, 300, 300, 300, 50, 700, 100]
    starts = simulate(limiter, clock, calls)
    assert starts[3] > starts[2]
    assert max_in_any_window(starts, calls) <= 1000


def test_a_call_larger_than_the_tpm_quota_goes_alone() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=100, clock=clock)
    starts = simulate(limiter, clock, [50, 500, 10])
    assert starts[1] >= starts[0] + 60
    assert starts[2] >= starts[1] + 60


def test_reservations_from_many_callers_are_booked_ahead() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=2, clock=clock)
    waits = [limiter.reserve() for _ in range(5)]  # five callers at the same instant
    assert waits == [0.0, 0.0, 60.0, 60.0, 120.0]


@pytest.mark.parametrize("kwargs", [{"rpm": 0}, {"tpm": -1}])
def test_bad_limits(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)
