"""The per-address token bucket and the wait after misses, on a clock the test
moves."""

from __future__ import annotations

from web.ratelimit import MissDelay, RateLimiter


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


def test_the_wait_after_misses_doubles_up_to_its_longest() -> None:
    clock = Clock()
    misses = MissDelay(free=5, first=60, longest=3600, clock=clock)

    waits = []  # after each miss
    for _ in range(13):
        clock.now += misses.wait("name")  # the visitor waits as told
        misses.keep(misses.miss("name"))
        waits.append(misses.wait("name"))

    assert waits == [0, 0, 0, 0, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert misses.wait("another name") == 0


def test_a_look_up_that_found_gives_its_miss_back_but_clears_nothing() -> None:
    """Review: a look-up that found gave its count back but kept its time, so
    the holder of a name others had missed on, having waited 60 seconds, waited
    them again at their next look-up (up to an hour, with the wait grown)."""
    clock = Clock()
    misses = MissDelay(free=2, first=60, clock=clock)

    misses.keep(misses.miss("name"))
    misses.keep(misses.miss("name"))
    waited = misses.wait("name")
    clock.now += 60
    misses.give_back(misses.miss("name"))  # the holder, or one who knows them
    again = misses.wait("name")
    misses.keep(misses.miss("name"))  # a guess after them

    assert waited == 60
    assert again == 0  # found: no wait of its own, neither in count nor time
    assert misses.wait("name") == 120  # still the two misses before: a third


def test_a_look_up_the_database_never_answered_is_no_miss() -> None:
    """Review: look-ups failing with the database away counted as misses."""
    clock = Clock()
    misses = MissDelay(free=1, first=60, clock=clock)

    for _ in range(3):
        misses.give_back(misses.miss("name"))

    assert misses.wait("name") == 0 and "name" not in misses._misses


def test_look_ups_in_flight_count_until_each_is_answered() -> None:
    """Misses are counted before the database answers, so look-ups sent at once
    cannot slip through; the holder's among them gives back its own alone."""
    clock = Clock()
    misses = MissDelay(free=2, first=60, clock=clock)

    guess = misses.miss("name")
    clock.now += 1
    holder = misses.miss("name")
    waits_meanwhile = misses.wait("name")
    clock.now += 1
    misses.give_back(holder)
    misses.keep(guess)
    misses.keep(guess)  # said twice, counted once

    assert waits_meanwhile == 60  # two in flight: the third waits
    assert misses._misses["name"].count == 1
    assert misses.wait("name") == 0
    misses.keep(misses.miss("name"))
    assert misses.wait("name") == 60


def test_misses_are_forgotten_a_day_after_the_last() -> None:
    clock = Clock()
    misses = MissDelay(free=1, first=60, longest=3600, clock=clock)

    for _ in range(8):
        clock.now += misses.wait("name")
        misses.keep(misses.miss("name"))
    clock.now += 86_399
    kept = misses.wait("name")
    clock.now += 1

    assert kept == 0  # the hour has long passed, but the count is kept
    assert misses._misses["name"].count == 8
    assert misses.wait("name") == 0 and "name" not in misses._misses


def test_flooding_the_table_with_new_names_keeps_a_guessed_names_count() -> None:
    clock = Clock()
    misses = MissDelay(free=3, first=60, clock=clock, max_keys=100)
    for _ in range(3):
        misses.keep(misses.miss("guessed"))

    for i in range(1000):
        clock.now += 0.01
        misses.keep(misses.miss(f"flood {i}"))

    assert len(misses._misses) <= 100
    assert "guessed" in misses._misses and misses.wait("guessed") > 0
