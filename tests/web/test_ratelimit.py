"""The per-address token bucket, on a clock the test moves."""

from __future__ import annotations

from web.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_refused_until_tokens_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(10, clock=clock)

    burst = [limiter.take("a") for _ in range(10)]
    refused = limiter.take("a")
    clock.now += 6.0  # one token back at 10 per minute
    after_wait = limiter.take("a")
    again = limiter.take("a")

    assert burst == [0.0] * 10
    assert refused == 6.0
    assert after_wait == 0.0
    assert 5.9 < again <= 6.0


def test_clients_have_their_own_buckets() -> None:
    limiter = RateLimiter(1, clock=Clock())

    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0


def test_the_table_of_clients_stays_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(1, clock=clock, max_clients=100)

    for i in range(1000):
        limiter.take(f"10.0.{i // 250}.{i % 250}")
        clock.now += 0.001

    assert len(limiter._buckets) <= 100
    # A busy client keeps its (empty) bucket, so it is still refused.
    assert limiter.take("10.0.3.249") > 0
