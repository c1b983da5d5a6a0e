"""Small in-process limits: a token bucket per client, a growing wait per key.

Each process keeps its own buckets: behind several workers or replicas a client
gets that many times the limit. That is enough to slow down guessing of names,
identity numbers and certificate numbers; a shared limit belongs in the proxy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``per_minute`` requests per client, in bursts of up to ``burst``."""

    def __init__(
        self,
        per_minute: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else per_minute)
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}

    def take(self, client: str) -> float:
        """Spend one token of ``client``: 0.0 if allowed, else seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._forget_idle(now)
            bucket = self._buckets[client] = _Bucket(self.capacity, now)
        else:
            elapsed = max(now - bucket.updated, 0.0)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
            bucket.updated = now

        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled completely holds nothing worth keeping.
        full = [
            client
            for client, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.capacity
        ]
        for client in full:
            del self._buckets[client]
        if len(self._buckets) >= self._max_clients:
            # Every client is busy: drop the oldest half rather than grow unbounded.
            ordered = sorted(self._buckets, key=lambda c: self._buckets[c].updated)
            for client in ordered[: len(ordered) // 2]:
                del self._buckets[client]


@dataclass(eq=False)
class _Misses:
    """One key's misses: ``count`` includes the look-ups still waiting for the
    database (``pending``); ``last`` is the latest one the answer kept."""

    count: int
    last: float = -math.inf
    pending: set[Miss] = field(default_factory=set)

    def latest(self) -> float:
        """When the key last missed, the look-ups still waiting included."""
        return max([self.last, *(miss.at for miss in self.pending)])


@dataclass(frozen=True, eq=False)
class Miss:
    """A look-up of one key counted as a miss when let through, until its
    answer says whether the miss stands (:meth:`MissDelay.keep`) or not
    (:meth:`MissDelay.give_back`)."""

    key: str
    at: float
    misses: _Misses


class MissDelay:
    """A wait that grows with each look-up of one key that found nothing.

    The token bucket lets anyone try ten ID numbers for a name every minute,
    for ever: enough to go through the few thousand numbers a name and a
    partial ID number leave in hours. Here each key (a name, an ID number)
    counts its misses: after the ``free``-th the key waits ``first`` seconds
    before its next look-up, after each further one twice as long as before, up
    to ``longest``. A key's misses are forgotten ``memory`` seconds after its
    last one.

    A look-up is counted as a miss when it is let through (:meth:`miss`, right
    after :meth:`wait` said 0), not when the database has answered, so that
    look-ups sent at the same moment cannot all pass before the first miss is
    counted. Once answered, a look-up that found nothing keeps its miss
    (:meth:`keep`); one that found certificates, or got no answer (the
    database away), gives it back whole (:meth:`give_back`): its count and its
    time, so that the holder of a name others missed on, having waited once,
    does not wait again at the next look-up. Giving back never clears the
    misses of other look-ups: someone who knows one holder of a common name
    must not reset the wait of everyone else of that name.
    """

    def __init__(
        self,
        *,
        free: int = 5,
        first: float = 60.0,
        longest: float = 3600.0,
        memory: float = 86_400.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if free < 1 or first <= 0 or longest < first or memory <= 0:
            raise ValueError("free >= 1, 0 < first <= longest and memory > 0")
        self.free = free
        self.first = first
        self.longest = longest
        self.memory = memory
        self._clock = clock
        self._max_keys = max_keys
        self._misses: dict[str, _Misses] = {}

    def delay(self, count: int) -> float:
        """Seconds a key waits after its ``count``-th miss before the next look-up."""
        if count < self.free:
            return 0.0
        return min(self.first * 2.0 ** min(count - self.free, 64), self.longest)

    def wait(self, key: str) -> float:
        """Seconds ``key`` must wait before its next look-up; 0.0 if none."""
        misses = self._current(key)
        if misses is None:
            return 0.0
        return max(misses.latest() + self.delay(misses.count) - self._clock(), 0.0)

    def miss(self, key: str) -> Miss:
        """Count a look-up of ``key`` let through as a miss, until it is answered."""
        now = self._clock()
        misses = self._current(key)
        if misses is None:
            if len(self._misses) >= self._max_keys:
                self._forget(now)
            misses = self._misses[key] = _Misses(0)
        miss = Miss(key, now, misses)
        misses.count += 1
        misses.pending.add(miss)
        return miss

    def keep(self, miss: Miss) -> None:
        """The look-up found nothing: its miss stands, dated when let through."""
        misses = miss.misses
        if miss in misses.pending:
            misses.pending.discard(miss)
            misses.last = max(misses.last, miss.at)

    def give_back(self, miss: Miss) -> None:
        """The look-up found certificates, or got no answer: it was no miss.

        Its count and its time are undone; the key's other misses stay.
        """
        misses = miss.misses
        if miss not in misses.pending:
            return
        misses.pending.discard(miss)
        misses.count -= 1
        if misses.count == 0 and self._misses.get(miss.key) is misses:
            del self._misses[miss.key]

    def _current(self, key: str) -> _Misses | None:
        misses = self._misses.get(key)
        if misses is not None and self._clock() - misses.latest() >= self.memory:
            del self._misses[key]
            return None
        return misses

    def _forget(self, now: float) -> None:
        # Forgotten ones first; then the keys with the fewest misses, so that
        # flooding the table with new names cannot wipe a guessed name's count.
        for key in [
            k for k, m in self._misses.items() if now - m.latest() >= self.memory
        ]:
            del self._misses[key]
        if len(self._misses) >= self._max_keys:
            ordered = sorted(
                self._misses,
                key=lambda k: (self._misses[k].count, self._misses[k].latest()),
            )
            for key in ordered[: len(ordered) // 2]:
                del self._misses[key]
