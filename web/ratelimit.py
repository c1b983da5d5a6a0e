"""A small in-process token bucket per client address.

Each process keeps its own buckets: behind several workers or replicas a client
gets that many times the limit. That is enough to slow down guessing of names,
identity numbers and certificate numbers; a shared limit belongs in the proxy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


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
